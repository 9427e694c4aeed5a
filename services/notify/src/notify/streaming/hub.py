"""The live streams of one API process: the connections it holds, and the events that reach them.

Every replica subscribes its own exclusive queue (a live subscription: every replica gets every
event) to the posts, follows and `notification.created` events, and fans each out to the
connections it holds, as Mastodon's streaming server does:

- `update` / `status.update` / `delete` in `user` to the author and the followers who may see the
  status in their home timeline (the posts service's rules: a private status to followers, a
  direct one to whom it mentions, a reply to someone else only to who follows that someone), and
  in `public`, `public:local` (public statuses that are not replies to someone else) and
  `hashtag` (public statuses with the tag);
- `notification` in `user` and `user:notification` to its recipient, rendered for them.

Events are handled one at a time in arrival order by one task, so a delete never overtakes its
status. Each connection has its own bounded queue: a slow client is dropped, never holding up
others. Database reads (an author's account, a notification, a viewer's follows) run on a small
thread pool of their own.

Which accounts follow whom is kept in memory for the connected viewers: loaded when a viewer's
first user stream opens, then kept by the follow events themselves (by the pair's version, so an
event and the loaded graph agree whichever came first)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import structlog
from sqlalchemy.orm import Session

from microblog_common.contracts.notify import NOTIFICATION_CREATED, NotificationCreated
from microblog_common.contracts.posts import POST_DELETED, POST_PUBLISHED, POST_UPDATED, StatusSnapshot
from microblog_common.contracts.users import USER_FOLLOWED, USER_UNFOLLOWED, UserFollowed, UserUnfollowed
from microblog_common.db import Database
from microblog_common.events import Event, EventBus
from microblog_common.events.bus import Subscription
from microblog_common.mastodon.statuses import status_from_snapshot
from microblog_common.urls import PublicUrls
from notify import rendering
from notify.notifications import repository as notifications
from notify.replica import repository as replica
from notify.streaming import repository as presence
from notify.streaming.connections import (
    HASHTAG,
    HASHTAG_LOCAL,
    PRESENCE_STREAMS,
    PUBLIC_STREAMS,
    USER,
    USER_NOTIFICATION,
    Connection,
    Message,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")

LIVE_PATTERNS = (
    POST_PUBLISHED,
    POST_UPDATED,
    POST_DELETED,
    USER_FOLLOWED,
    USER_UNFOLLOWED,
    NOTIFICATION_CREATED,
)
# Events waiting for the dispatcher; past this (a stalled process) the oldest are dropped.
INBOX_LIMIT = 50_000
STATUS_SCOPES = ("read", "read:statuses")


class StreamHub:
    def __init__(self, urls: PublicUrls, *, queue_size: int, presence_refresh_seconds: float):
        self.urls = urls
        self.queue_size = queue_size
        self.presence_refresh_seconds = presence_refresh_seconds
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.connections: set[Connection] = set()
        self.by_account: dict[int, set[Connection]] = defaultdict(set)
        # viewer -> followee -> version of the pair's last change (active follows only).
        self.following: dict[int, dict[int, int]] = {}
        self.unfollowed: dict[tuple[int, int], int] = {}
        self.followers_online: dict[int, set[int]] = defaultdict(set)
        self.db: Database | None = None
        self.bus: EventBus | None = None
        self.subscription: Subscription | None = None
        self.limiter = anyio.CapacityLimiter(4)
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Set when an account stops watching here: its presence row goes at once, not at expiry.
        self._presence_changed = asyncio.Event()
        # Accounts that stopped watching since the last refresh; presence writes one at a time.
        self._gone: set[int] = set()
        self._presence_lock = asyncio.Lock()
        self._presence_rewrite = True  # the first refresh (and one after a failure) writes every row
        self.dropped_slow = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, db: Database, bus: EventBus) -> None:
        self.db, self.bus = db, bus
        self._inbox = asyncio.Queue()
        self._presence_changed = asyncio.Event()
        self._presence_lock = asyncio.Lock()
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="stream-dispatch"),
            asyncio.create_task(self._refresh_presence(), name="stream-presence"),
        ]
        self.subscription = Subscription("notify", LIVE_PATTERNS, self._receive, durable=False, prefetch=256)
        await bus.subscribe(self.subscription)
        log.info("streaming_started", replica=self.replica_id)

    async def stop(self) -> None:
        self.close_all()
        if self.bus is not None and self.subscription is not None:
            with contextlib.suppress(Exception):
                await self.bus.unsubscribe(self.subscription)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.db is not None:
            with contextlib.suppress(Exception):
                await self._db(presence.forget_replica, self.replica_id)

    def close_all(self) -> None:
        for connection in list(self.connections):
            connection.close()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self.db is not None
        db = self.db

        def run() -> T:
            with db.unit_of_work() as session:
                return fn(session, *args)

        return await anyio.to_thread.run_sync(run, limiter=self.limiter)

    # -- connections ---------------------------------------------------------------------------

    def connect(self, account_id: int, scopes: frozenset[str], *, websocket: bool) -> Connection:
        connection = Connection(account_id, scopes, self.queue_size, websocket=websocket)
        self.connections.add(connection)
        self.by_account[account_id].add(connection)
        return connection

    async def subscribe(self, connection: Connection, stream: str, tag: str | None = None) -> None:
        watching_before = self._watching(connection.account_id)
        connection.subscriptions.add((stream, tag))
        if stream == USER and connection.account_id not in self.following:
            graph = await self._db(replica.following_of, [connection.account_id])
            self._merge_following(connection.account_id, graph[connection.account_id])
        if stream in PRESENCE_STREAMS and not watching_before:
            async with self._presence_lock:
                self._gone.discard(connection.account_id)
                try:
                    await self._db(
                        presence.mark_present, self.replica_id, connection.account_id, self._presence_expiry()
                    )
                except Exception:
                    self._presence_rewrite = True  # the next refresh writes the row
                    raise

    def unsubscribe(self, connection: Connection, stream: str, tag: str | None = None) -> None:
        was_watching = self._watching(connection.account_id)
        connection.subscriptions = {
            (s, t)
            for s, t in connection.subscriptions
            if not (s == stream and (tag is None or _same_tag(t, tag)))
        }
        if was_watching and not self._watching(connection.account_id):
            self._stopped_watching(connection.account_id)

    def disconnect(self, connection: Connection) -> None:
        was_watching = self._watching(connection.account_id)
        connection.close()
        self.connections.discard(connection)
        mine = self.by_account.get(connection.account_id)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self.by_account[connection.account_id]
                self._forget_following(connection.account_id)
        if was_watching and not self._watching(connection.account_id):
            self._stopped_watching(connection.account_id)
        if connection.dropped:
            self.dropped_slow += 1
            log.warning("stream_dropped_slow_client", account_id=connection.account_id)

    def _watching(self, account_id: int) -> bool:
        return any(
            c.subscribed_to(USER) or c.subscribed_to(USER_NOTIFICATION)
            for c in self.by_account.get(account_id, ())
        )

    def _stopped_watching(self, account_id: int) -> None:
        self._gone.add(account_id)
        self._presence_changed.set()  # its row goes at once, not at expiry

    def _presence_expiry(self) -> datetime:
        # Rows live three refresh intervals: a replica that stops refreshing stops counting.
        return datetime.now(UTC) + timedelta(seconds=self.presence_refresh_seconds * 3)

    async def _refresh_presence(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.presence_refresh_seconds):
                    await self._presence_changed.wait()
            self._presence_changed.clear()
            # Two statements, not a row per stream: with thousands of streams, rewriting every row
            # held the event loop long enough to show in their latency.
            async with self._presence_lock:
                gone = [a for a in self._gone if not self._watching(a)]
                rewrite = (
                    [a for a in list(self.by_account) if self._watching(a)]
                    if self._presence_rewrite
                    else None
                )
                try:
                    await self._db(
                        presence.refresh_presence, self.replica_id, gone, self._presence_expiry(), rewrite
                    )
                except Exception as exc:
                    self._presence_rewrite = True
                    log.warning(
                        "stream_presence_refresh_failed", error=str(exc), error_type=type(exc).__name__
                    )
                    continue
                self._gone.difference_update(gone)
                self._presence_rewrite = False

    # -- the follow graph of connected viewers -----------------------------------------------------

    def _merge_following(self, viewer: int, loaded: dict[int, int]) -> None:
        current = self.following.setdefault(viewer, {})
        for followee, version in loaded.items():
            newer_unfollow = self.unfollowed.get((viewer, followee), -1)
            if version > newer_unfollow and version >= current.get(followee, -1):
                current[followee] = version
                self.followers_online[followee].add(viewer)

    def _forget_following(self, viewer: int) -> None:
        for followee in self.following.pop(viewer, {}):
            online = self.followers_online.get(followee)
            if online is not None:
                online.discard(viewer)
                if not online:
                    del self.followers_online[followee]
        for pair in [p for p in self.unfollowed if p[0] == viewer]:
            del self.unfollowed[pair]

    def _apply_follow(self, follower: int, followee: int, active: bool, version: int) -> None:
        graph = self.following.get(follower)
        if graph is None:
            return  # not a connected viewer: its graph is loaded when it connects
        known = max(graph.get(followee, -1), self.unfollowed.get((follower, followee), -1))
        if version <= known:
            return
        if active:
            graph[followee] = version
            self.unfollowed.pop((follower, followee), None)
            self.followers_online[followee].add(follower)
        else:
            graph.pop(followee, None)
            self.unfollowed[(follower, followee)] = version
            online = self.followers_online.get(followee)
            if online is not None:
                online.discard(follower)

    # -- events ------------------------------------------------------------------------------------

    async def _receive(self, event: Event) -> None:
        # Only queued here: the bus (in-process or a broker channel) is never held up by fan-out.
        if self._inbox.qsize() >= INBOX_LIMIT:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._inbox.get_nowait()
            log.warning("stream_inbox_full", dropped_oldest=True)
        self._inbox.put_nowait(event)

    async def _dispatch(self) -> None:
        while True:
            event = await self._inbox.get()
            try:
                await self.handle(event)
            except Exception as exc:
                log.warning(
                    "stream_event_failed",
                    event_type=event.type,
                    error=str(exc),
                    error_type=type(exc).__name__,
                )

    async def handle(self, event: Event) -> None:
        if event.type == USER_FOLLOWED:
            followed = UserFollowed.model_validate(event.data)
            self._apply_follow(int(followed.follower_id), int(followed.followee_id), True, event.version)
        elif event.type == USER_UNFOLLOWED:
            unfollowed = UserUnfollowed.model_validate(event.data)
            self._apply_follow(int(unfollowed.follower_id), int(unfollowed.followee_id), False, event.version)
        elif event.type == NOTIFICATION_CREATED:
            await self._notification(NotificationCreated.model_validate(event.data))
        elif event.type in (POST_PUBLISHED, POST_UPDATED, POST_DELETED):
            if self.connections:
                await self._status(event.type, StatusSnapshot.model_validate(event.data))

    async def _notification(self, created: NotificationCreated) -> None:
        recipient = int(created.account_id)
        connections = [
            c
            for c in self.by_account.get(recipient, ())
            if c.subscribed_to(USER) or c.subscribed_to(USER_NOTIFICATION)
        ]
        if not connections:
            return
        rendered = await self._db(_render_notification, int(created.id), recipient, self.urls)
        if rendered is None:
            return
        payload = json.dumps(rendered)
        for connection in connections:
            for stream in (USER, USER_NOTIFICATION):
                if connection.subscribed_to(stream) and connection.has_scope(_notification_scopes(stream)):
                    connection.offer(Message((stream,), "notification", payload))

    async def _status(self, event_type: str, snapshot: StatusSnapshot) -> None:
        author = int(snapshot.account_id)
        home = self._home_audience(snapshot)
        public = snapshot.visibility == "public"
        to_public = public and snapshot.in_reply_to_account_id in (None, snapshot.account_id)
        tags = {t.lower() for t in snapshot.tags} if public else set()
        if not home and not to_public and not tags:
            return
        if event_type == POST_DELETED:
            self._fan_out(home, to_public, tags, "delete", lambda _viewer: snapshot.id, snapshot.id)
            return
        event = "update" if event_type == POST_PUBLISHED else "status.update"
        favouriters: set[int] = set()
        account = await self._db(_render_author, author, self.urls)
        if account is None:
            log.info("stream_status_author_unknown", status_id=snapshot.id)
            return
        if event_type == POST_UPDATED and home:
            favouriters = await self._db(replica.favourited_among_accounts, int(snapshot.id), sorted(home))
        anonymous = json.dumps(status_from_snapshot(snapshot, account, self.urls))
        variants: dict[tuple[bool, bool], str] = {}

        def for_viewer(viewer: int | None) -> str:
            if viewer is None:
                return anonymous
            key = (viewer == author, viewer in favouriters)
            if key not in variants:
                variants[key] = json.dumps(
                    status_from_snapshot(snapshot, account, self.urls, viewer_id=viewer, favourited=key[1])
                )
            return variants[key]

        self._fan_out(home, to_public, tags, event, for_viewer, anonymous)

    def _fan_out(
        self,
        home: set[int],
        to_public: bool,
        tags: set[str],
        event: str,
        payload_for: Callable[[int | None], str],
        anonymous: str,
    ) -> None:
        # One Message per stream and payload, shared by every connection it goes to.
        messages: dict[tuple[tuple[str, ...], str], Message] = {}

        def message(stream: tuple[str, ...], payload: str) -> Message:
            found = messages.get((stream, payload))
            if found is None:
                found = messages[(stream, payload)] = Message(stream, event, payload)
            return found

        for viewer in home:
            for connection in list(self.by_account.get(viewer, ())):
                if connection.subscribed_to(USER) and connection.has_scope(STATUS_SCOPES):
                    connection.offer(message((USER,), payload_for(viewer)))
        if not to_public and not tags:
            return
        for connection in list(self.connections):
            for stream, tag in list(connection.subscriptions):
                if to_public and stream in PUBLIC_STREAMS:
                    connection.offer(message((stream,), anonymous))
                elif tags and stream in (HASHTAG, HASHTAG_LOCAL) and tag is not None and tag.lower() in tags:
                    connection.offer(message((stream, tag), anonymous))

    def _home_audience(self, snapshot: StatusSnapshot) -> set[int]:
        """Connected viewers whose home timeline the status belongs in."""
        author = int(snapshot.account_id)
        audience: set[int] = {author} if author in self.by_account else set()
        mentioned = {int(m.id) for m in snapshot.mentions}
        replied_to = int(snapshot.in_reply_to_account_id) if snapshot.in_reply_to_account_id else None
        for viewer in self.followers_online.get(author, ()):
            if snapshot.visibility == "direct" and viewer not in mentioned:
                continue
            if replied_to not in (None, author, viewer) and replied_to not in self.following.get(viewer, {}):
                continue
            audience.add(viewer)
        return audience


def _same_tag(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def _notification_scopes(stream: str) -> tuple[str, ...]:
    # Notifications need a notifications scope, whichever stream carries them (as Mastodon).
    return ("read", "read:notifications")


def _render_notification(
    session: Session, notification_id: int, recipient: int, urls: PublicUrls
) -> dict[str, Any] | None:
    row = notifications.by_id(session, notification_id)
    if row is None or row.account_id != recipient:
        return None  # dismissed, or its status deleted, before it could be shown
    rendered = rendering.notifications(session, [row], recipient, urls)
    return rendered[0] if rendered else None


def _render_author(session: Session, account_id: int, urls: PublicUrls) -> dict[str, Any] | None:
    row = replica.account(session, account_id)
    return rendering.render_account(row, urls) if row is not None else None
