"""The mapper's fast paths, each held to the plain form it stands in for."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio import timestamps
from signal_dest_cio.dedup import _ulid, dedup_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_ulid(time_ms: int, randomness: bytes) -> str:
    """A ULID the slow way: 128 bits, five at a time, from the top."""
    value = min(max(time_ms, 0), 2**48 - 1) << 80 | int.from_bytes(randomness[:10], "big")
    return "".join(CROCKFORD[value >> shift & 31] for shift in range(125, -1, -5))


@given(st.integers(min_value=-(2**70), max_value=2**70), st.binary(min_size=10, max_size=16))
def test_ulid_is_the_crockford_base32_of_time_and_randomness(time_ms: int, data: bytes) -> None:
    assert _ulid(time_ms, data) == reference_ulid(time_ms, data)


def test_dedup_ids_stay_what_they_were() -> None:
    # Pinned: a replay after an upgrade must produce the id the first delivery had.
    assert dedup_id("msg-1", 1_704_110_400_123) == "01HK2EA8KVW3MQCJ88DGJBD17A"


def general_epoch_ms(value: object) -> int | None:
    """`to_epoch_ms` with its JavaScript-form shortcut turned off: the general pattern."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(timestamps, "_parse_js_ms", lambda text: None)
        return timestamps.to_epoch_ms(value)


def _javascript_form(moment: datetime, at: int, noise: str) -> str:
    """`toISOString()`'s form of `moment`, with `noise` written over it at `at` (24 long)."""
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.")
    text += f"{moment.microsecond // 1000:03d}Z"
    return text[:at] + noise + text[at + len(noise) :]


_JS_SHAPED = st.builds(
    _javascript_form,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(min_value=0, max_value=22),
    st.sampled_from(["", " ", "\t", "\u3000", "x", "٣", "+", "_", "0", "9", "T", "t", "-", ":"]),
)


@given(st.one_of(_JS_SHAPED, st.text(min_size=24, max_size=24).map(lambda t: t[:23] + "Z")))
def test_the_javascript_shortcut_reads_a_time_as_the_general_pattern_does(text: str) -> None:
    assert len(text) == 24 and text.endswith("Z")
    assert timestamps.to_epoch_ms(text) == general_epoch_ms(text)
    shifted = " " + text[:22] + "Z"  # whitespace first, still 24 characters
    assert timestamps.to_epoch_ms(shifted) == general_epoch_ms(shifted)
