"""Events the translate service publishes (through its outbox) and the handlers of those it consumes."""

from microblog_common.events import EventHandlers, Outbox
from translate.models import messaging

outbox = Outbox(messaging.outbox, producer="translate")
handlers = EventHandlers()
