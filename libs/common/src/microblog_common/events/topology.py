"""Who consumes which events (ARCHITECTURE.md's event table), in one place.

Every process declares these queues and bindings when it connects to the broker, so an event
published before its consumer has ever run waits in that consumer's queue instead of being
dropped as unroutable. A service's queue is bound to everything listed for it; types it has no
handler for yet are recorded in its inbox and otherwise ignored."""

from __future__ import annotations

USER_LIFECYCLE = ("user.registered", "user.updated", "user.deleted")
FOLLOWS = ("user.followed", "user.unfollowed")
POSTS = ("post.published", "post.updated", "post.deleted")

CONSUMED_EVENTS: dict[str, tuple[str, ...]] = {
    "users": ("post.published", "post.deleted"),
    "posts": (*USER_LIFECYCLE, *FOLLOWS),
    # Favourites for `in:library` (what a reader favourited).
    "search": (*POSTS, *USER_LIFECYCLE, *FOLLOWS, "post.favourited", "post.unfavourited"),
    # Who may see a status (follows), and the viewer's language (account snapshots).
    "translate": (*POSTS, *USER_LIFECYCLE, *FOLLOWS),
    "notify": (*USER_LIFECYCLE, *FOLLOWS, "user.password_reset_requested", *POSTS, "post.favourited"),
}


def consumed_by(service: str, handled: tuple[str, ...]) -> tuple[str, ...]:
    """The binding patterns of `service`'s queue: its row of the table, or (for a service outside
    it, e.g. a test app) what it has handlers for. Handlers for events the table doesn't route to
    the service are a wiring mistake and fail at start-up."""
    listed = CONSUMED_EVENTS.get(service)
    if listed is None:
        return handled
    unrouted = sorted(set(handled) - set(listed))
    if unrouted:
        raise ValueError(f"{service} handles {unrouted}, which topology.CONSUMED_EVENTS does not route to it")
    return listed
