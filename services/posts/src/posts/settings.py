"""Settings of the posts service, read from environment variables."""

from pydantic import Field, field_validator

from microblog_common.internal_client import validate_service_url
from microblog_common.settings import ServiceSettings

# The languages the detector chooses among (ISO 639-1): the more there are, the slower it is to
# load and the more often it confuses close ones on short texts.
DEFAULT_DETECTED_LANGUAGES = (
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "ru",
    "zh",
    "ja",
    "ko",
    "ar",
    "pl",
    "tr",
    "sv",
)


class Settings(ServiceSettings):
    service_name: str = "posts"

    # Mastodon's limits: characters per post (a URL counts as `characters_per_url`).
    max_characters: int = 500
    characters_per_url: int = 23
    idempotency_seconds: int = 3600

    detected_languages: tuple[str, ...] = DEFAULT_DETECTED_LANGUAGES
    # How far ahead of the runner-up the detector's best guess must be; below it the language is
    # unknown (null), as for a text too short to tell.
    language_min_relative_distance: float = Field(0.1, ge=0.0, le=0.99)
    # Trigram models only (the default): ready at once and about 40 MB for the 15 default
    # languages; the high-accuracy models take ~25 MB a language (about 370 MB for the 15: more
    # than a service's memory budget) and tell a few more very short posts apart.
    language_low_accuracy: bool = True

    # Rendered statuses and accounts kept in memory (each checked against its row on every read:
    # never stale); 0 turns a cache off.
    render_cache_statuses: int = Field(10_000, ge=0)
    render_cache_accounts: int = Field(5_000, ge=0)

    # Scheduled posts: how far ahead `scheduled_at` must be, and Mastodon's limits per account.
    scheduled_min_lead_seconds: float = 300.0
    scheduled_total_limit: int = 300
    scheduled_daily_limit: int = 25
    # How often the publisher looks for due posts (it also publishes all overdue ones at start).
    scheduled_poll_interval_seconds: float = 1.0
    scheduled_batch_size: int = 50

    # The users service (`http://host:port` or `unix:/path.sock`): a post that leaves its
    # visibility, sensitivity or language to the author's defaults asks it for the author's current
    # ones (the replica may not have the latest change yet), as does one whose author the replica
    # doesn't know yet.
    users_url: str
    users_timeout_seconds: float = Field(2.0, gt=0)

    @field_validator("users_url")
    @classmethod
    def _valid_users_url(cls, value: str) -> str | None:
        return validate_service_url(value)
