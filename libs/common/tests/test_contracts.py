import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from microblog_common.contracts import ContractOutbox
from microblog_common.contracts.users import (
    CONTRACTS,
    USER_FOLLOWED,
    USER_UNFOLLOWED,
    UserFollowed,
    UserUnfollowed,
)
from microblog_common.events import Outbox

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_only_the_registered_contract_is_published(db, schema):
    outbox = ContractOutbox(Outbox(schema.messaging.outbox, producer="users"), CONTRACTS)
    unfollowed = UserUnfollowed(follower_id="1", followee_id="2", at=NOW)
    with db.unit_of_work() as s, pytest.raises(TypeError, match="carries UserFollowed"):
        outbox.publish(s, USER_FOLLOWED, unfollowed, subject=1)
    with db.unit_of_work() as s:
        event = outbox.publish(s, USER_UNFOLLOWED, unfollowed, subject=1, version=3)
    with db.unit_of_work() as s:
        (payload,) = s.scalars(select(schema.messaging.outbox.c.payload)).all()
    stored = json.loads(payload)
    assert stored["id"] == str(event.id) and stored["version"] == 3
    assert stored["data"] == {"follower_id": "1", "followee_id": "2", "at": "2026-12-01T00:00:00Z"}


def test_consumers_read_payloads_of_newer_producers():
    data = {
        "follower_id": "1",
        "followee_id": "2",
        "at": NOW.isoformat(),
        "notify": False,
        "reblogs": True,
        "languages": None,
        "added_later": {"by": "a newer producer"},
    }
    followed = UserFollowed.model_validate(data)
    assert followed.follower_id == "1" and not hasattr(followed, "added_later")
