import asyncio

from microblog_common.events import Event, RetryPolicy
from microblog_common.events.bus import PermanentEventError, Subscription, topic_matches
from microblog_common.events.memory import MemoryBus


def test_topic_matching_follows_amqp():
    assert topic_matches("user.*", "user.registered")
    assert not topic_matches("user.*", "user.a.b")
    assert topic_matches("user.#", "user.a.b")
    assert topic_matches("#", "post.published")
    assert not topic_matches("post.published", "post.updated")


def _event(n: int, type: str = "post.published") -> Event:
    return Event(type=type, producer="posts", subject=str(n), data={"n": n})


async def test_failing_handler_is_retried_then_dead_lettered_and_others_flow():
    bus = MemoryBus()
    await bus.start()
    seen: list[int] = []
    attempts: dict[int, int] = {}

    async def handler(event: Event) -> None:
        n = event.data["n"]
        attempts[n] = attempts.get(n, 0) + 1
        if n == 2:
            raise RuntimeError("always fails")
        if n == 3 and attempts[n] == 1:
            raise RuntimeError("fails once")
        seen.append(n)

    await bus.subscribe(Subscription("notify", ("post.*",), handler, RetryPolicy((0.01, 0.02))))
    await bus.publish([_event(n) for n in range(5)])
    await bus.publish([_event(9, type="user.registered")])  # not bound: not delivered
    for _ in range(100):
        if bus.dead_letters.get("notify") and 3 in seen:
            break
        await asyncio.sleep(0.01)
    assert sorted(seen) == [0, 1, 3, 4]
    assert attempts[2] == 3  # the first try plus two retries
    assert [e.data["n"] for e in bus.dead_letters["notify"]] == [2]
    await bus.close()


async def test_permanent_errors_skip_the_retries():
    bus = MemoryBus()
    await bus.start()
    calls = 0

    async def handler(event: Event) -> None:
        nonlocal calls
        calls += 1
        raise PermanentEventError("cannot ever work")

    await bus.subscribe(Subscription("search", ("#",), handler, RetryPolicy((0.01,))))
    await bus.publish([_event(1)])
    assert calls == 1 and len(bus.dead_letters["search"]) == 1
    await bus.close()


async def test_events_for_a_consumer_not_yet_subscribed_are_held_until_it_is():
    bus = MemoryBus(topology={"search": ("post.published",)})
    await bus.start()
    await bus.publish([_event(1), _event(2, type="user.registered")])
    seen: list[int] = []

    async def handler(event: Event) -> None:
        seen.append(event.data["n"])

    await bus.subscribe(Subscription("search", ("post.published",), handler))
    assert seen == [1]
    await bus.close()
