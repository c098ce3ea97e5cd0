"""More of the mapper's fast paths, each held to the plain form it stands in for."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio.events import EVENT_CLASSES, TrackEvent, parse_event
from signal_dest_cio.identity import Person
from signal_dest_cio.mapping_context import may_hold_date
from signal_dest_cio.operations import Device, Mapped, Operation, init_through_slots

_VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=5)


@pytest.mark.parametrize("cls", [Operation, Mapped])
def test_a_slot_init_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    parameters = list(inspect.signature(cls).parameters.values())
    members = dataclasses.fields(cls)
    assert [p.name for p in parameters] == [m.name for m in members]
    for parameter, member in zip(parameters, members, strict=True):
        expected = (
            inspect.Parameter.empty if member.default is dataclasses.MISSING else member.default
        )
        assert parameter.default == expected
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@given(st.data())
def test_a_slot_init_sets_every_field_to_what_it_was_given(data: st.DataObject) -> None:
    names = [member.name for member in dataclasses.fields(Operation)][1:]
    given_values = data.draw(st.dictionaries(st.sampled_from(names), _VALUES))
    op = Operation("event", **given_values)
    assert op.action == "event"
    for member in dataclasses.fields(Operation)[1:]:
        assert getattr(op, member.name) == given_values.get(member.name, member.default)
    positional = Operation(*(["event"] + [given_values.get(name) for name in names]))
    assert [getattr(positional, name) for name in names] == [given_values.get(n) for n in names]


def test_a_slot_init_leaves_the_class_frozen_and_its_errors_as_they_were() -> None:
    op = Operation("event", person=Person("u"), name="n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.name = "m"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Operation()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Operation("event", colour="red")  # type: ignore[call-arg]
    assert op == Operation("event", person=Person("u"), name="n", data_json=b"{}")
    assert Mapped("m", (op,)) == Mapped("m", (op,), (), ())


def test_a_slot_init_refuses_a_default_factory() -> None:
    with pytest.raises(TypeError, match="attributes"):
        init_through_slots(Device)


class _DictSubclass(dict[str, Any]):
    pass


_EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "page"]), "userId": st.text(max_size=4)},
    optional={"event": st.text(max_size=4), "properties": st.dictionaries(st.text(), _VALUES)},
)


@given(_EVENTS)
def test_a_dict_an_event_parses_as_its_text_does_and_a_model_as_itself(raw: dict[str, Any]) -> None:
    event = parse_event(raw)
    assert event == parse_event(json.dumps(raw))
    assert isinstance(event, EVENT_CLASSES)
    assert parse_event(event) is event
    # Not a dict exactly: still looked at and validated, never taken for a model.
    assert parse_event(_DictSubclass(raw)) == event


def test_a_model_given_is_returned_as_it_is() -> None:
    event = TrackEvent.model_validate({"type": "track", "event": "e", "userId": "u"})
    assert parse_event(event) is event


_DATE_PATTERN = re.compile(rb'"[0-9]{4}-')
_DATE_PIECES = st.sampled_from(['"', "-", "0", "9", "2024", '"2024', "x", "\u0663", " ", "a-b"])


@given(st.lists(_DATE_PIECES, max_size=40).map("".join))
def test_may_hold_date_finds_what_the_pattern_finds(text: str) -> None:
    encoded = text.encode()
    assert may_hold_date(encoded) == (_DATE_PATTERN.search(encoded) is not None)


def test_may_hold_date_past_the_dashes_it_looks_at_hands_over_to_the_pattern() -> None:
    dashes = "a-" * 20
    assert may_hold_date(f'{dashes}"2024-01-02"'.encode())
    assert not may_hold_date(f'{dashes}"2024"'.encode())
    assert may_hold_date(b'"2024-') and not may_hold_date(b"2024-") and not may_hold_date(b"")
