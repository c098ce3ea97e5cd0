"""A rule's `when` (SPEC 12): the JSON tree's ops, the FQL string and its printer.

Segment's FQL parser gets three things wrong; each is pinned here: `and` binds tighter
than `or`, parentheses nest, and escapes (in strings and in paths) work.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signal_dest_cio.events import parse_event
from signal_dest_cio.mappings.conditions import (
    ConditionError,
    Group,
    Leaf,
    Not,
    compile_predicate,
    compile_traced,
    parse_tree,
    specialise,
    tree_json,
)
from signal_dest_cio.mappings.fql import parse_fql, print_fql
from signal_dest_cio.mappings.paths import event_view, parse_path, print_path


def view(**event: Any) -> dict[str, Any]:
    parsed = parse_event({"type": "track", "event": "E", "userId": "u1", **event})
    assert not hasattr(parsed, "code"), parsed
    return event_view(parsed)  # type: ignore[arg-type]


def holds(when: Any, **event: Any) -> bool:
    node = parse_fql(when) if isinstance(when, str) else parse_tree(when)
    return compile_predicate(node)(view(**event))


def leaf(path: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"path": path, "op": op, "value": value} if op != "exists" or value is not None else {
        "path": path, "op": op}  # fmt: skip


# -- each op -------------------------------------------------------------------------------

P = {"properties": {"n": 5, "f": 2.5, "s": "Hello World", "tags": ["a", "b"], "t": True,
                    "z": None, "items": [{"sku": "x"}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (leaf("properties.n", "eq", 5), True),
        (leaf("properties.n", "eq", 5.0), True),  # JSON numbers by value
        (leaf("properties.n", "eq", "5"), False),  # typed: a string is not a number
        (leaf("properties.t", "eq", 1), False),  # a boolean is never a number
        (leaf("properties.t", "eq", True), True),
        (leaf("properties.z", "eq", None), True),  # null matches null ...
        (leaf("properties.nope", "eq", None), True),  # ... and missing
        (leaf("properties.s", "ne", "x"), True),
        (leaf("properties.nope", "ne", "x"), True),
        (leaf("properties.nope", "ne", None), False),
        (leaf("properties.n", "lt", 6), True),
        (leaf("properties.n", "le", 5), True),
        (leaf("properties.n", "gt", 5), False),
        (leaf("properties.f", "ge", 2.5), True),
        (leaf("properties.s", "gt", 1), False),  # numbers only: a string never compares
        (leaf("properties.t", "gt", 0), False),  # nor a boolean
        (leaf("properties.n", "in", [1, 5]), True),
        (leaf("properties.n", "in", ["5"]), False),
        (leaf("properties.nope", "in", ["a", None]), True),
        (leaf("properties.s", "contains", "lo Wo"), True),
        (leaf("properties.s", "contains", "lo wo"), False),  # case counts
        (leaf("properties.tags", "contains", "b"), True),  # a list's item
        (leaf("properties.tags", "contains", "c"), False),
        (leaf("properties.s", "starts_with", "Hell"), True),
        (leaf("properties.s", "ends_with", "World"), True),
        (leaf("properties.s", "ends_with", "world"), False),
        (leaf("properties.s", "match", "H*o W?rld"), True),
        (leaf("properties.s", "match", "Hello*"), True),
        (leaf("properties.s", "match", "hello*"), False),
        (leaf("properties.s", "match", "Hello"), False),  # the whole value
        (leaf("properties.s", "exists"), True),
        (leaf("properties.z", "exists"), False),  # null is not there
        (leaf("properties.nope", "exists", False), True),
        (leaf("properties.items.0.sku", "eq", "x"), True),  # lists by index
        (leaf("properties.items.1.sku", "exists"), False),
        (leaf("properties.s.0", "exists"), False),  # a string is never looked into
    ],
)
def test_each_op(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition, **P) is expected


def test_all_any_not() -> None:
    yes, no = leaf("event", "eq", "E"), leaf("event", "eq", "F")
    assert holds({"all": [yes, yes]}) and not holds({"all": [yes, no]})
    assert holds({"any": [no, yes]}) and not holds({"any": [no, no]})
    assert holds({"not": no}) and not holds({"not": yes})
    assert holds({"all": [yes, {"any": [no, {"not": no}]}, yes]})


def test_snake_case_paths_mean_the_camel_case_fields() -> None:
    assert holds(leaf("user_id", "eq", "u1")) and holds(leaf("userId", "eq", "u1"))
    assert holds(leaf("$.userId", "eq", "u1"))  # Segment's @path form


def test_the_trace_shows_each_condition_and_the_value_it_saw() -> None:
    node = parse_fql('event = "E" and properties.n > 3 and properties.nope = "x"')
    trace: list[dict[str, Any]] = []
    assert compile_traced(node)(view(**P), trace) is False
    assert [(t["path"], t["saw"], t["matched"]) for t in trace] == [
        ("event", "E", True),
        ("properties.n", 5, True),
        ("properties.nope", None, False),
    ]
    assert trace[2]["missing"] is True and "missing" not in trace[0]


@pytest.mark.parametrize(
    ("tree", "problem"),
    [
        ({"path": "event", "op": "equals", "value": 1}, "unknown op 'equals'"),
        ({"path": "", "op": "eq", "value": 1}, "bad path"),
        ({"path": "a..b", "op": "eq", "value": 1}, "bad path"),
        ({"path": "event", "op": "gt", "value": "9"}, "value must be a number"),
        ({"path": "event", "op": "in", "value": []}, "non-empty list"),
        ({"path": "event", "op": "match", "value": 3}, "needs a string"),
        ({"path": "event", "op": "eq"}, "needs a value"),
        ({"path": "event", "op": "eq", "value": 1, "extra": 1}, "unknown key 'extra'"),
        ({"all": []}, "non-empty list"),
        ({"all": [], "any": []}, "takes no other keys"),
        ("event", "must be an object"),
    ],
)
def test_a_bad_tree_is_refused_naming_the_problem(tree: Any, problem: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_tree(tree)
    assert problem in caught.value.message


def test_a_bad_leaf_deep_in_the_tree_names_its_place() -> None:
    tree = {"all": [leaf("event", "eq", "E"), {"not": {"path": "x", "op": "nope", "value": 1}}]}
    with pytest.raises(ConditionError) as caught:
        parse_tree(tree)
    assert caught.value.where == ("all", 1, "not", "op")


# -- the string form -----------------------------------------------------------------------


def test_fql_segment_examples() -> None:
    assert holds('type = "track" and event = "Order Completed"', event="Order Completed")
    assert holds("properties.total >= 100", properties={"total": 100})
    assert not holds("properties.total < 100", properties={"total": 100})
    assert holds("properties.coupon = null", properties={})
    assert holds("userId != null")
    assert holds(
        'contains(properties.email, "@example.com")', properties={"email": "a@example.com"}
    )
    assert holds('match(event, "debug.*")', event="debug.ping")
    assert holds('!match(event, "debug.*")', event="ping")
    assert holds('not event = "x"')
    assert holds('properties.plan in ["pro", "team"]', properties={"plan": "team"})
    assert holds("exists(properties.plan)", properties={"plan": "team"})
    assert holds('starts_with(event, "Ord") and ends_with(event, "red")', event="Ordered")


def test_and_binds_tighter_than_or() -> None:
    # Segment reads `a or b and c` as `(a or b) and c`; it is `a or (b and c)`.
    node = parse_fql('event = "A" or event = "B" and userId = "nobody"')
    assert isinstance(node, Group) and node.kind == "any"
    assert holds('event = "A" or event = "B" and userId = "nobody"', event="A")
    assert not holds('event = "B" or event = "A" and userId = "nobody"', event="A")
    assert holds('event = "B" and userId = "nobody" or event = "A"', event="A")


def test_nested_parentheses() -> None:
    text = '((event = "A" or (event = "B")) and (userId = "u1" and !(properties.x = 1)))'
    assert holds(text, event="B") and not holds(text, event="C")
    assert not holds(text, event="A", properties={"x": 1})
    assert holds("(((((" + 'event = "A"' + ")))))", event="A")
    with pytest.raises(ConditionError, match="ends too early"):
        parse_fql('(event = "A"')
    with pytest.raises(ConditionError, match="unexpected"):
        parse_fql('event = "A")')


def test_escapes_in_strings_and_paths() -> None:
    assert holds(r'event = "say \"hi\""', event='say "hi"')
    assert holds(r'event = "back\\slash"', event="back\\slash")
    assert holds(r'event = "two\nlines"', event="two\nlines")
    assert holds(r'properties.first\ name = "Ada"', properties={"first name": "Ada"})
    assert holds(r"properties.a\.b = 1", properties={"a.b": 1, "a": {"b": 2}})
    assert holds(r"properties.a.b = 2", properties={"a.b": 1, "a": {"b": 2}})
    assert holds(r'match(event, "2\\* off*")', event="2* off today")
    assert not holds(r'match(event, "2\\* off*")', event="22 off today")
    with pytest.raises(ConditionError, match="unknown escape"):
        parse_fql(r'event = "\q"')
    with pytest.raises(ConditionError, match="not closed"):
        parse_fql('event = "open')


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("event = ", "ends too early"),
        ('event == "x"', "expected a value"),
        ('event = "a" "b"', "unexpected"),
        ('event ~ "x"', "expected = != < <= > >= or in, found '~'"),
        ('and = "x"', "expected a path"),
        ('properties.n > "x"', "must be a number"),
        ("match(event)", "expected ','"),
        ('event = "a" or', "ends too early"),
    ],
)
def test_a_bad_string_is_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_fql(text)
    assert problem in caught.value.message


# -- printed and read back: the same events match ------------------------------------------

KEYS = st.sampled_from(["a", "b", "first name", "a.b", 'q"x', "and", "7", "\\", "ü"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False).filter(lambda f: f != 0 or str(f) == "0.0"),
    st.sampled_from(["", "a", "A b", 'say "hi"', "x\\y", "debug.ping", "*", "line\nnext"]),
)
PATHS = st.lists(KEYS, min_size=1, max_size=3).map(lambda keys: ("properties", *keys))


def _leaves(paths: st.SearchStrategy[Any] = PATHS) -> st.SearchStrategy[Leaf]:
    strings = st.sampled_from(["", "a", "A", "debug.*", "*b", "a?", 'q"', "\\*x", "x\\"])
    numbers = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False))
    return st.one_of(
        st.builds(Leaf, paths, st.sampled_from(["eq", "ne"]), SCALARS),
        st.builds(Leaf, paths, st.sampled_from(["lt", "le", "gt", "ge"]), numbers),
        st.builds(Leaf, paths, st.just("in"), st.lists(SCALARS, min_size=1, max_size=3).map(tuple)),
        st.builds(Leaf, paths, st.sampled_from(["starts_with", "ends_with", "match"]), strings),
        st.builds(Leaf, paths, st.just("contains"), SCALARS.filter(lambda v: v is not None)),
        st.builds(Leaf, paths, st.just("exists"), st.booleans()),
    )


TREES = st.recursive(
    _leaves(),
    lambda inner: st.one_of(
        st.builds(Group, st.sampled_from(["all", "any"]),
                  st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=8,
)  # fmt: skip
VALUES = st.recursive(
    SCALARS, lambda inner: st.dictionaries(KEYS, inner, max_size=3) | st.lists(inner, max_size=2)
)
EVENTS = st.dictionaries(KEYS, VALUES, max_size=4)


@settings(max_examples=300, deadline=None)
@given(tree=TREES, properties=st.lists(EVENTS, min_size=1, max_size=4))
def test_printed_string_parsed_back_matches_exactly_the_same_events(
    tree: Any, properties: list[dict[str, Any]]
) -> None:
    original = compile_predicate(parse_tree(tree_json(tree)))
    text = print_fql(tree)
    reread = compile_predicate(parse_fql(text))
    for props in properties:
        event = view(properties=props)
        assert original(event) == reread(event), text


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4))
def test_a_path_prints_and_parses_back_to_the_same_segments(segments: list[str]) -> None:
    first = segments[0]
    expected = parse_path([first, *segments[1:]])  # snake_case tops become camelCase
    assert parse_path(print_path(expected)) == expected


def _trees(leaves: st.SearchStrategy[Leaf]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Group, st.sampled_from(["all", "any"]),
                      st.lists(inner, min_size=1, max_size=3).map(tuple)),
            st.builds(Not, inner),
        ),
        max_leaves=8,
    )  # fmt: skip


KEYED = _trees(_leaves(st.sampled_from([("type",), ("event",)]) | PATHS))
NAMES = st.none() | st.sampled_from(["", "a", "A", "debug.ping", "*b", 'q"', "x\\"])


@settings(max_examples=300, deadline=None)
@given(
    tree=KEYED,
    kind=st.sampled_from(["track", "page", "identify", "screen", "group", "alias"]),
    name=NAMES,
    props=EVENTS,
)
def test_a_tree_decided_on_type_and_name_answers_as_the_whole_tree(
    tree: Any, kind: str, name: str | None, props: dict[str, Any]
) -> None:
    """The engine evaluates, per (type, event name), what is left of each condition once
    those are known; on the parsed event (not a view of it). Both answer as the tree."""
    raw: dict[str, Any] = {"type": kind, "userId": "u1", "properties": props}
    if name is not None:
        raw["event"] = name
    event = parse_event(raw)
    assert not hasattr(event, "code"), event
    whole = compile_predicate(tree)
    expected = whole(event_view(event))  # type: ignore[arg-type]
    assert whole(event) == expected
    left = specialise(tree, kind, name)
    assert (left if isinstance(left, bool) else compile_predicate(left)(event)) == expected
