from datetime import UTC, datetime

from microblog_common.ids import id_to_datetime, lowest_id_at, new_id, parse_id


def test_ids_increase_strictly_within_a_process():
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_id_carries_its_creation_time_in_mastodon_scheme():
    before = datetime.now(UTC)
    value = new_id()
    after = datetime.now(UTC)
    made = id_to_datetime(value)
    assert before.timestamp() - 0.002 <= made.timestamp() <= after.timestamp() + 0.002
    assert value >> 16 == int(made.timestamp() * 1000)


def test_lowest_id_at_orders_before_ids_made_later():
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert lowest_id_at(moment) <= new_id(at=moment) < lowest_id_at(datetime(2026, 1, 2, tzinfo=UTC))


def test_parse_id_accepts_strings_and_rejects_garbage():
    assert parse_id("109348234") == 109348234
    assert parse_id(42) == 42
    assert parse_id("abc") is None
    assert parse_id("-5") is None
    assert parse_id("") is None
    assert parse_id(str(1 << 64)) is None
