"""Field values (SPEC 12): each directive, with Segment's meaning, and the three added."""

from __future__ import annotations

from typing import Any

import pytest

from signal_dest_cio.mappings.casts import FieldError
from signal_dest_cio.mappings.directives import DirectiveError, Notes, compile_value
from signal_dest_cio.mappings.paths import MISSING

ROOT = {
    "userId": "u1",
    "event": "Signed Up",
    "properties": {
        "email": "Ada@Example.com",
        "password": "hunter2",
        "plan": "pro",
        "blank": "   ",
        "zero": 0,
        "null": None,
        "count": "42",
        "ratio": "2.5",
        "flag": "yes",
        "when": "2026-03-02T09:15:04Z",
        "products": [{"sku": "a", "price": 1}, {"sku": "b"}],
        "one": {"sku": "c"},
    },
    "traits": {"name": "Ada", "plan": "free"},
}


def resolve(spec: Any, root: Any = ROOT, notes: Notes | None = None) -> Any:
    return compile_value(spec)(root, notes)


def p(path: str) -> dict[str, Any]:
    return {"@path": path}


def test_literals_and_objects_holding_directives() -> None:
    assert resolve("text") == "text" and resolve(3) == 3 and resolve(None) is None
    assert resolve({"a": p("userId"), "b": p("properties.nope"), "c": [p("event"), 1]}) == {
        "a": "u1",
        "c": ["Signed Up", 1],
    }  # a missing value removes its key


def test_path() -> None:
    assert resolve(p("$.properties.plan")) == "pro"
    assert resolve(p("properties.products.1.sku")) == "b"
    assert resolve(p("properties.nope")) is MISSING
    assert resolve(p("properties.null")) is None  # null is a value; missing is not


def test_template() -> None:
    spec = {"@template": "Hi {{traits.name}} ({{ properties.plan }}) {{properties.nope}}!"}
    assert resolve(spec) == "Hi Ada (pro) !"
    assert resolve({"@template": "{{properties.zero}} {{properties.products.0}}"}) == (
        '0 {"sku":"a","price":1}'
    )


def test_if_exists_and_blank_with_a_falsy_else_kept() -> None:
    exists = {"@if": {"exists": p("properties.plan"), "then": "paid", "else": "free"}}
    assert resolve(exists) == "paid"
    missing = {"@if": {"exists": p("properties.nope"), "then": "yes", "else": False}}
    assert resolve(missing) is False  # a falsy else is kept (Segment drops it)
    assert resolve({"@if": {"exists": p("properties.null"), "then": 1, "else": 0}}) == 0
    assert resolve({"@if": {"exists": p("properties.nope"), "then": 1}}) is MISSING
    for path, blank in [("properties.blank", True), ("properties.null", True),
                        ("properties.nope", True), ("properties.zero", False),
                        ("properties.plan", False)]:  # fmt: skip
        spec = {"@if": {"blank": p(path), "then": "blank", "else": ""}}
        assert resolve(spec) == ("blank" if blank else ""), path


def test_array_path() -> None:
    assert resolve({"@arrayPath": ["properties.products", {"id": p("sku")}]}) == [
        {"id": "a"},
        {"id": "b"},
    ]
    assert resolve({"@arrayPath": ["$.properties.one", {"id": p("$.sku")}]}) == [{"id": "c"}]
    assert resolve({"@arrayPath": ["properties.products"]}) == ROOT["properties"]["products"]
    assert resolve({"@arrayPath": ["properties.plan"]}) is MISSING


def test_literal_is_never_read_as_a_directive() -> None:
    assert resolve({"@literal": {"@path": "userId"}}) == {"@path": "userId"}


def test_case_and_replace() -> None:
    assert resolve({"@case": {"operator": "lower", "value": p("properties.email")}}) == (
        "ada@example.com"
    )
    assert resolve({"@case": {"operator": "upper", "value": p("event")}}) == "SIGNED UP"
    assert resolve({"@case": {"operator": "upper", "value": p("properties.zero")}}) == 0
    spec = {"@replace": {"pattern": ".", "replacement": "_", "value": "a.b.c"}}
    assert resolve(spec) == "a_b_c"  # text, not a regular expression; every one
    once = {"@replace": {"pattern": "A", "replacement": "\\1", "value": "aAa", "global": False,
                         "ignorecase": True, "pattern2": "a", "replacement2": "b"}}  # fmt: skip
    assert resolve(once) == "\\1ba"  # one of each, either case


def test_merge() -> None:
    objects = [p("traits"), {"plan": "team"}, p("properties.nope")]
    assert resolve({"@merge": {"objects": objects}}) == {"name": "Ada", "plan": "team"}
    left = {"@merge": {"objects": objects, "direction": "left"}}
    assert resolve(left) == {"name": "Ada", "plan": "free"}


def test_exclude_when_null() -> None:
    spec = {"a": {"@excludeWhenNull": p("properties.null")}, "b": {"@excludeWhenNull": 0}}
    assert resolve(spec) == {"b": 0}


def test_coalesce() -> None:
    choices = [p("properties.nope"), p("properties.null"), p("properties.email")]
    assert resolve({"@coalesce": choices}) == "Ada@Example.com"
    assert resolve({"@coalesce": [p("properties.nope")]}) is MISSING
    assert resolve({"@coalesce": [p("userId"), p("properties.email")]}) == "u1"


def test_omit_drops_keys_and_tells_the_preview() -> None:
    notes = Notes()
    notes.field = "attributes"
    spec = {"@omit": {"value": p("properties"), "keys": ["email", "password", "absent"]}}
    found = resolve(spec, notes=notes)
    assert "email" not in found and "password" not in found and found["plan"] == "pro"
    assert notes.omitted == ["attributes.email", "attributes.password"]
    assert ROOT["properties"]["email"]  # the event itself is untouched


@pytest.mark.parametrize(
    ("to", "value", "expected"),
    [
        ("string", 42, "42"),
        ("string", 2.0, "2"),
        ("string", True, "true"),
        ("number", "42", 42),
        ("number", " 2.5 ", 2.5),
        ("number", 7, 7),
        ("boolean", "yes", True),
        ("boolean", "FALSE", False),
        ("boolean", 1, True),
        ("unix", "2026-03-02T09:15:04Z", 1772442904),
        ("unix", 1772442904000, 1772442904),
        ("lower", "AbC", "abc"),
        ("upper", "AbC", "ABC"),
        ("trim", "  a b ", "a b"),
    ],
)
def test_cast(to: str, value: Any, expected: Any) -> None:
    assert resolve({"@cast": {"to": to, "value": {"@literal": value}}}) == expected


@pytest.mark.parametrize(
    ("to", "value"),
    [("number", "abc"), ("number", True), ("number", "nan"), ("boolean", "maybe"),
     ("unix", "soon"), ("unix", True), ("lower", 3)],
)  # fmt: skip
def test_a_cast_that_cannot_be_made_is_a_field_error(to: str, value: Any) -> None:
    with pytest.raises(FieldError, match=f"@cast to {to}"):
        resolve({"@cast": {"to": to, "value": {"@literal": value}}})


def test_cast_passes_missing_and_null_through() -> None:
    assert resolve({"@cast": {"to": "number", "value": p("properties.nope")}}) is MISSING
    assert resolve({"@cast": {"to": "number", "value": p("properties.null")}}) is None


@pytest.mark.parametrize(
    ("spec", "problem", "where"),
    [
        ({"@pth": "x"}, "unknown directive '@pth'", ()),
        ({"@path": "a..b"}, "bad path", ("@path",)),
        ({"@path": "x", "other": 1}, "exactly one @ key", ()),
        ({"@template": 3}, "takes a string", ("@template",)),
        ({"@template": "{{a..b}}"}, "bad path", ("@template",)),
        ({"@if": {"then": 1}}, "exactly one of exists or blank", ("@if",)),
        ({"@if": {"exists": p("a")}}, "needs then or else", ("@if",)),
        ({"@case": {"operator": "title", "value": "x"}}, "lower or upper", ("@case", "operator")),
        ({"@replace": {"value": "x"}}, "needs 'pattern'", ("@replace",)),
        ({"@merge": {"objects": []}}, "non-empty list", ("@merge", "objects")),
        ({"@coalesce": []}, "non-empty list", ("@coalesce",)),
        ({"@omit": {"value": p("a"), "keys": "email"}}, "list of strings", ("@omit", "keys")),
        ({"@cast": {"to": "date", "value": 1}}, "to must be one of", ("@cast", "to")),
        ({"a": [{"@nope": 1}]}, "unknown directive", ("a", 0)),
    ],
)
def test_a_bad_directive_is_refused_at_save_time_naming_its_place(
    spec: Any, problem: str, where: tuple[Any, ...]
) -> None:
    with pytest.raises(DirectiveError) as caught:
        compile_value(spec)
    assert problem in caught.value.message
    assert caught.value.where == where
