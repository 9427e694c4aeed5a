"""Events the notify service publishes (through its outbox) and the handlers of those it consumes."""

from microblog_common.events import EventHandlers, Outbox
from notify.models import messaging

outbox = Outbox(messaging.outbox, producer="notify")
handlers = EventHandlers()
