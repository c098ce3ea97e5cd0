"""The worker's per-event shortcuts give what the general code gives.

A host turns every outcome into a dict, scrubs it and writes three JSON columns per
event; each of those has a faster path, held here to the slower one it replaced.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio.host.pool import outcome_dict
from signal_dest_cio.host.store_common import dumps, loads
from signal_dest_cio.jsoncodec import _may_hold_non_finite
from signal_dest_cio.logging import (
    REDACTED,
    _credentials_masked,
    _ordered,
    _redacted,
    redact_with,
)
from signal_dest_cio.outcomes import Outcome

# The pattern as it was applied to every string before the ASCII shortcut.
_BASIC = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._-]+")

_texts = st.text(
    alphabet=st.sampled_from(list("basicBASICbearerBEARER \u017fKk\u212a\t:=xyz0123-\u00e9"))
    | st.characters(),
    max_size=40,
)


@given(_texts)
def test_credentials_are_masked_exactly_as_the_pattern_masks_them(text: str) -> None:
    expected = _BASIC.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    assert _credentials_masked(text) == expected


def test_a_non_ascii_spelling_of_bearer_is_still_masked() -> None:
    # U+017F (long s) matches `s` case-insensitively: the ASCII shortcut must not skip it.
    assert _credentials_masked("ba\u017fic dXNlcjpwYXNz") == f"ba\u017fic {REDACTED}"
    assert (
        _credentials_masked("Authorization: Bearer abc.def") == f"Authorization: Bearer {REDACTED}"
    )


_outcomes = st.builds(
    Outcome,
    kind=st.sampled_from(["delivered", "filtered", "rejected", "retry", "config_error"]),
    code=st.text(max_size=10),
    message=st.text(max_size=20),
    status=st.none() | st.integers(100, 599),
    field=st.none() | st.text(max_size=10),
    retry_after=st.none() | st.floats(0, 300),
    message_id=st.none() | st.text(max_size=20),
    warnings=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    rules=st.lists(st.text(max_size=10), max_size=2).map(tuple),
)


@given(_outcomes)
def test_an_outcome_as_json_is_its_model_dump(outcome: Outcome) -> None:
    assert outcome.as_json() == outcome.model_dump(mode="json")
    assert list(outcome.as_json()) == list(outcome.model_dump(mode="json"))  # same key order


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(_json_values)
def test_a_json_column_reads_back_as_the_value_written(value: object) -> None:
    text = dumps(value)
    if value is None:  # a NULL column
        assert text is None
        return
    assert text is not None
    assert _same(loads(text), value)  # NaN and Infinity too (orjson alone writes null)
    assert _same(json.loads(text), value)


def test_a_nan_in_an_outcome_is_not_stored_as_null() -> None:
    assert dumps({"retry_after": float("nan"), "field": None}) == '{"retry_after":NaN,"field":null}'


def test_redaction_still_scrubs_outcome_values() -> None:
    outcome = Outcome(kind="rejected", code="bad", message="key sk-live-12345 refused", status=401)
    scrubbed = redact_with(outcome.as_json(), frozenset({"sk-live-12345"}))
    assert scrubbed["message"] == f"key {REDACTED} refused"
    assert scrubbed["status"] == 401


_SECRETS = frozenset({"sk-live-12345", "site-9876", "k\u00e9y-secret"})
# Texts that hold a secret, a credential, a near miss or non-ASCII now and then.
_outcome_texts = st.text(max_size=12) | st.sampled_from(
    ["sk-live-12345", "Bearer abc", "bAsIc dXNlcg==", "site-987", "k\u00e9y-secret", "bearer"]
).flatmap(
    lambda part: st.builds(lambda a, b: a + part + b, st.text(max_size=4), st.text(max_size=4))
)

_risky_outcomes = st.builds(
    Outcome,
    kind=st.sampled_from(["delivered", "rejected", "retry"]),
    code=_outcome_texts,
    message=_outcome_texts,
    status=st.none() | st.integers(100, 599),
    field=st.none() | _outcome_texts,
    retry_after=st.none() | st.floats(0, 300),
    message_id=st.none() | _outcome_texts,
    warnings=st.lists(_outcome_texts, max_size=3).map(tuple),
    rules=st.lists(st.text(max_size=10), max_size=2).map(tuple),
)


def _walked(value: object) -> object:
    """What the redaction walk alone makes of `value` (no flat-dict shortcut)."""
    return _redacted(value, _ordered(_SECRETS))


@given(_risky_outcomes, st.booleans())
def test_an_outcome_dict_is_the_full_walks_scrub(outcome: Outcome, as_mapping: bool) -> None:
    # The shortcut copies an outcome untouched only where the walk changes nothing.
    given_as = outcome.as_json() if as_mapping else outcome
    assert outcome_dict(given_as, _SECRETS) == _walked(outcome.as_json())


_flat_values = (
    st.none() | st.booleans() | st.integers() | st.floats() | _outcome_texts
    | st.lists(_outcome_texts, max_size=3) | st.lists(st.integers(), min_size=1, max_size=2)
    | st.dictionaries(_outcome_texts, _outcome_texts, max_size=2)
)  # fmt: skip
_flat_keys = st.sampled_from(["kind", "message", "api_key", "Token", "x"]) | _outcome_texts


@given(st.dictionaries(_flat_keys, _flat_values, max_size=6))
def test_redacting_a_dict_gives_the_walks_result_in_fresh_containers(value: dict) -> None:
    scrubbed = redact_with(value, _SECRETS)
    assert scrubbed == _walked(value)
    assert scrubbed is not value
    for key, item in value.items():
        if isinstance(item, list):
            assert scrubbed[key] is not item  # the caller's lists are never handed back


def test_an_outcome_with_a_secret_is_scrubbed_by_the_shortcuts_fallback() -> None:
    outcome = Outcome(kind="retry", code="x", message="ok", message_id="m-sk-live-12345")
    assert outcome_dict(outcome, _SECRETS)["message_id"] == f"m-{REDACTED}"
    odd = {**outcome.as_json(), "message_id": "m", "api_key": "plain"}  # a secret-named key
    assert outcome_dict(odd, _SECRETS)["api_key"] == REDACTED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": None, "b": 1.5}, False),
        ({"a": None, "b": float("nan")}, True),
        ([None, [float("-inf")]], True),
        ([float("inf")] * 2, True),  # the second is a marshal reference to the first
        ({"text": "\x7f\u00ff", "n": None, "big": -1}, False),  # the bytes, but no float
        ({"n": None, "f": -2.0, "at": 1.7e9}, False),
    ],
)
def test_a_non_finite_float_is_found_behind_a_null(value: object, expected: bool) -> None:
    assert _may_hold_non_finite(value) is expected


def test_the_worker_process_does_not_load_the_web_framework() -> None:
    # The worker only delivers; importing FastAPI with it cost ~0.5 s of CPU per start.
    code = (
        "import sys\n"
        "import signal_dest_cio.host.worker_child\n"
        "from signal_dest_cio.cli import configure_logging\n"
        "from signal_dest_cio.host.discovery import discover_destinations\n"
        "from signal_dest_cio.host.pool import DestinationPool\n"
        "from signal_dest_cio.host.store_api import open_store\n"
        "from signal_dest_cio.host.vault import Vault\n"
        "from signal_dest_cio.host.worker import DeliveryWorker\n"
        "discover_destinations(None)\n"
        "web = ('fastapi', 'starlette', 'uvicorn')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in web))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
