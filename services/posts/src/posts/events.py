"""Events the posts service publishes (through its outbox) and the handlers of those it consumes."""

from microblog_common.events import EventHandlers, Outbox
from posts.models import messaging

outbox = Outbox(messaging.outbox, producer="posts")
handlers = EventHandlers()
