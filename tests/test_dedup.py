"""Deterministic ULID dedup ids (SPEC section 3, Dedup id)."""

from __future__ import annotations

import time

from signal_dest_cio.dedup import dedup_id, is_ulid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EVENT_MS = 1_704_110_400_123


def ulid_time_ms(ulid: str) -> int:
    value = 0
    for char in ulid[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_same_message_and_time_give_the_same_id() -> None:
    assert dedup_id("msg-1", EVENT_MS) == dedup_id("msg-1", EVENT_MS)


def test_different_message_ids_give_different_ids() -> None:
    ids = {dedup_id(f"msg-{n}", EVENT_MS) for n in range(1000)}

    assert len(ids) == 1000


def test_id_is_26_crockford_characters() -> None:
    ulid = dedup_id("msg-1", EVENT_MS)

    assert len(ulid) == 26
    assert set(ulid) <= set(CROCKFORD)
    assert ulid[0] in "01234567"  # 128 bits fit in 26 characters only so
    assert is_ulid(ulid)


def test_time_part_is_the_event_time_in_milliseconds() -> None:
    assert ulid_time_ms(dedup_id("msg-1", EVENT_MS)) == EVENT_MS
    assert ulid_time_ms(dedup_id("msg-1", 0)) == 0


def test_random_part_comes_from_the_message_id_alone() -> None:
    earlier, later = dedup_id("msg-1", EVENT_MS), dedup_id("msg-1", EVENT_MS + 1)

    assert earlier != later
    assert earlier[10:] == later[10:]
    assert earlier[10:] != dedup_id("msg-2", EVENT_MS)[10:]


def test_a_message_id_that_is_a_ulid_is_used_as_is() -> None:
    ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

    assert dedup_id(ulid, EVENT_MS) == ulid
    assert dedup_id(ulid.lower(), EVENT_MS) == ulid  # ULIDs are case-insensitive


def test_ulid_lookalikes_are_hashed() -> None:
    for almost in (
        "01ARZ3NDEKTSV4RRFFQ69G5FA",
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",
    ):
        assert not is_ulid(almost)
        assert dedup_id(almost, EVENT_MS) != almost.upper()
        assert ulid_time_ms(dedup_id(almost, EVENT_MS)) == EVENT_MS


def test_times_outside_the_ulid_range_are_clamped() -> None:
    assert ulid_time_ms(dedup_id("msg-1", -5)) == 0
    assert ulid_time_ms(dedup_id("msg-1", None)) == 0
    assert ulid_time_ms(dedup_id("msg-1", 2**60)) == 2**48 - 1


def test_no_message_id_gives_a_fresh_id_each_time() -> None:
    before = time.time_ns() // 1_000_000
    first, second = dedup_id(None, EVENT_MS), dedup_id("", EVENT_MS)
    after = time.time_ns() // 1_000_000

    assert first != second
    assert is_ulid(first) and is_ulid(second)
    assert before <= ulid_time_ms(first) <= after
