"""Integration events: envelope, transactional outbox and relay, inbox consumer, and the buses."""

from microblog_common.events.bus import EventBus, RetryPolicy
from microblog_common.events.consumer import EventHandlers, InboxConsumer
from microblog_common.events.envelope import Event, EventParseError
from microblog_common.events.outbox import Outbox, OutboxRelay
from microblog_common.events.tables import MessagingTables

__all__ = [
    "Event",
    "EventBus",
    "EventHandlers",
    "EventParseError",
    "InboxConsumer",
    "MessagingTables",
    "Outbox",
    "OutboxRelay",
    "RetryPolicy",
]
