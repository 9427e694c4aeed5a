"""OAuth scopes as Mastodon 4.3 defines them, and the checks of what an app may ask for."""

from __future__ import annotations

DEFAULT_SCOPE = "read"

_GRANULAR = {
    "read": (
        "accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists", "mutes",
        "notifications", "search", "statuses",
    ),
    "write": (
        "accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows", "lists",
        "media", "mutes", "notifications", "reports", "statuses",
    ),
    "admin:read": (
        "accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
        "canonical_email_blocks",
    ),
    "admin:write": (
        "accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
        "canonical_email_blocks",
    ),
}  # fmt: skip

SUPPORTED_SCOPES: tuple[str, ...] = (
    "read",
    "write",
    "follow",
    "push",
    "profile",
    *(f"read:{s}" for s in _GRANULAR["read"]),
    *(f"write:{s}" for s in _GRANULAR["write"]),
    "admin:read",
    *(f"admin:read:{s}" for s in _GRANULAR["admin:read"]),
    "admin:write",
    *(f"admin:write:{s}" for s in _GRANULAR["admin:write"]),
)
_SUPPORTED = frozenset(SUPPORTED_SCOPES)


def parse(value: str | None) -> list[str]:
    """Space-separated (Mastodon.py, RFC 6749) or `+`/comma-joined as some clients send; order kept,
    duplicates dropped."""
    if not value:
        return []
    seen: dict[str, None] = {}
    for part in value.replace("+", " ").replace(",", " ").split():
        seen.setdefault(part, None)
    return list(seen)


def unknown(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in _SUPPORTED]


def _covered_by(scope: str, granted: frozenset[str]) -> bool:
    """`read` covers `read:accounts`, `admin:read` covers `admin:read:accounts`."""
    if scope in granted:
        return True
    parent = scope.rsplit(":", 1)[0] if ":" in scope else None
    return parent is not None and parent in granted and parent in _SUPPORTED


def allowed_for_app(requested: list[str], app_scopes: list[str]) -> bool:
    """Every requested scope is known and within what the app registered for."""
    granted = frozenset(app_scopes)
    return not unknown(requested) and all(_covered_by(s, granted) for s in requested)


def join(scopes: list[str]) -> str:
    return " ".join(scopes)
