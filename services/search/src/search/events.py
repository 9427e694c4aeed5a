"""Events the search service publishes (through its outbox) and the handlers of those it consumes."""

from microblog_common.events import EventHandlers, Outbox
from search.models import messaging

outbox = Outbox(messaging.outbox, producer="search")
handlers = EventHandlers()
