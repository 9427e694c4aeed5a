"""What the users service prunes, in its event lane (see `microblog_common.lane.periodic`): the
revocation feed past the gateways' window, spent or expired reset tokens and authorization codes,
and reset requests past their rate window. Each retention is a setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from microblog_common.lane import EventLane, periodic
from users.oauth import repository as oauth_repository
from users.password_reset import repository as reset_repository
from users.settings import Settings
from users.tokens import repository as tokens_repository


def _ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def _prune_revocation_feed(lane: EventLane, session: Session) -> int:
    settings: Settings = lane.runtime.settings
    cutoff = _ago(settings.token_revocation_feed_retention_seconds)
    return tokens_repository.prune_revocations(session, cutoff)


def _prune_spent_secrets(lane: EventLane, session: Session) -> int:
    settings: Settings = lane.runtime.settings
    spent_before = _ago(settings.spent_secret_retention_seconds)
    codes = oauth_repository.prune_codes(session, spent_before)
    resets = reset_repository.prune(
        session,
        tokens_done_before=spent_before,
        requests_before=_ago(settings.password_reset_window_seconds),
    )
    return codes + resets


def _every(settings: object) -> float:
    assert isinstance(settings, Settings)
    return settings.retention_interval_seconds


LANE_TASKS = (
    periodic("prune_revocation_feed", _every, _prune_revocation_feed),
    periodic("prune_spent_secrets", _every, _prune_spent_secrets),
)
