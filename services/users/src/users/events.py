"""Events the users service publishes (through its outbox) and the handlers of those it consumes."""

from microblog_common.events import EventHandlers, Outbox

from users.models import messaging

outbox = Outbox(messaging.outbox, producer="users")
handlers = EventHandlers()
