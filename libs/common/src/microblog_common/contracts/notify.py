"""Events the notify service publishes.

| type | data | when |
|---|---|---|
| `notification.created` | `NotificationCreated` (id, recipient, type) | a notification was made |

Every notify replica's live queue gets `notification.created` and pushes the notification to the
recipient's open streams.

Not versioned: each notification is made once and never changes."""

from __future__ import annotations

from microblog_common.contracts import Contract

NOTIFICATION_CREATED = "notification.created"


class NotificationCreated(Contract):
    id: str  # the notification's
    account_id: str  # the recipient
    type: str


CONTRACTS: dict[str, type[Contract]] = {NOTIFICATION_CREATED: NotificationCreated}
