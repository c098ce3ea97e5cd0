"""A rule's `when` (SPEC 12): a JSON tree of `all` / `any` / `not` over leaves
`{path, op, value}`, checked and compiled when the config is saved.

A compiled condition is a plain Python function of the event view (paths.py), and a
second one that also records what each leaf saw (for previews and test events).
Nothing here is evaluated from text: the ops are a fixed table of functions.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .paths import MISSING, PathError, getter, parse_path, print_path

OPS = (
    "eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "starts_with", "ends_with",
    "match", "exists",
)  # fmt: skip
MAX_DEPTH = 32
MAX_LEAVES = 256

Predicate = Callable[[Any], bool]  # of a parsed event (or, in tests, its view as a dict)
Traced = Callable[[Any, list[dict[str, Any]]], bool]


class ConditionError(ValueError):
    """A condition that cannot be compiled; `where` is its place inside `when`."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message, self.where = message, where


@dataclass(frozen=True, slots=True)
class Leaf:
    path: tuple[str, ...]
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Group:
    kind: str  # "all" | "any"
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Leaf | Group | Not


# -- the tree, as JSON in and out -----------------------------------------------------


def parse_tree(raw: Any, where: tuple[str | int, ...] = ()) -> Node:
    """A checked tree from its JSON form; a ConditionError names the place and problem."""
    return _parse(raw, where, [0])


def _parse(raw: Any, where: tuple[str | int, ...], leaves: list[int]) -> Node:
    if len(where) > MAX_DEPTH * 2:
        raise ConditionError(f"conditions are nested more than {MAX_DEPTH} deep", where)
    if not isinstance(raw, dict):
        raise ConditionError("a condition must be an object: {all}, {any}, {not} or a leaf", where)
    keys = set(raw)
    for kind in ("all", "any"):
        if kind in raw:
            if keys != {kind}:
                raise ConditionError(f"{{{kind}: [...]}} takes no other keys", where)
            items = raw[kind]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{kind} must be a non-empty list of conditions", where)
            return Group(
                kind, tuple(_parse(item, (*where, kind, i), leaves) for i, item in enumerate(items))
            )
    if "not" in raw:
        if keys != {"not"}:
            raise ConditionError("{not: condition} takes no other keys", where)
        return Not(_parse(raw["not"], (*where, "not"), leaves))
    unknown = keys - {"path", "op", "value"}
    if unknown:
        raise ConditionError(f"unknown key {sorted(unknown)[0]!r} in a condition", where)
    leaves[0] += 1
    if leaves[0] > MAX_LEAVES:
        raise ConditionError(f"a rule may test at most {MAX_LEAVES} conditions", where)
    return _leaf(raw, where)


def _leaf(raw: dict[str, Any], where: tuple[str | int, ...]) -> Leaf:
    if "path" not in raw or "op" not in raw:
        raise ConditionError("a leaf condition needs path and op", where)
    try:
        path = parse_path(raw["path"])
    except PathError as error:
        raise ConditionError(f"bad path: {error}", (*where, "path")) from None
    op = raw["op"]
    if op not in OPS:
        raise ConditionError(f"unknown op {op!r}; ops are {', '.join(OPS)}", (*where, "op"))
    value = raw.get("value", True if op == "exists" else MISSING)
    if value is MISSING:
        raise ConditionError(f"op {op} needs a value", (*where, "value"))
    problem = _value_problem(op, value)
    if problem:
        raise ConditionError(problem, (*where, "value"))
    return Leaf(path, op, tuple(value) if op == "in" else value)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_scalar(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool)


def _value_problem(op: str, value: Any) -> str | None:
    if op in ("lt", "le", "gt", "ge"):
        return None if _is_number(value) else f"op {op} compares numbers: value must be a number"
    if op in ("starts_with", "ends_with", "match"):
        return None if isinstance(value, str) else f"op {op} needs a string value"
    if op == "exists":
        return None if isinstance(value, bool) else "op exists takes true or false"
    if op == "in":
        if isinstance(value, list) and value and all(_is_scalar(item) for item in value):
            return None
        return "op in needs a non-empty list of strings, numbers, booleans or null"
    if op == "contains":
        return None if _is_scalar(value) and value is not None else "op contains needs a scalar"
    return None if _is_scalar(value) else f"op {op} compares with a string, number, bool or null"


def tree_json(node: Node) -> dict[str, Any]:
    """The JSON form of a tree (paths as text), as `parse_tree` reads it."""
    if isinstance(node, Group):
        return {node.kind: [tree_json(item) for item in node.items]}
    if isinstance(node, Not):
        return {"not": tree_json(node.item)}
    value = list(node.value) if node.op == "in" else node.value
    return {"path": print_path(node.path), "op": node.op, "value": value}


# -- what each op means ---------------------------------------------------------------


def same(seen: Any, value: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0), a boolean is never a number."""
    if type(seen) is bool or type(value) is bool:
        return seen is value
    if _is_number(seen) and _is_number(value):
        return bool(seen == value)
    return type(seen) is type(value) and bool(seen == value)


def _glob(pattern: str) -> Callable[[str], bool]:
    """`*` any run of characters, `?` one; `\\` makes the next one literal."""
    pieces: list[str] = []  # the literal runs between wildcards
    wild: list[str] = []
    literal: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            literal.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*?":
            pieces.append("".join(literal))
            wild.append(char)
            literal = []
        else:
            literal.append(char)
    if escaped:
        literal.append("\\")
    pieces.append("".join(literal))
    if not wild:
        text = pieces[0]
        return lambda seen: seen == text
    if wild == ["*"] and pieces[1] == "":  # "prefix*", as deny rules are written
        prefix = pieces[0]
        return lambda seen: seen.startswith(prefix)
    regex = re.escape(pieces[0])
    for char, piece in zip(wild, pieces[1:], strict=True):
        regex += (".*" if char == "*" else ".") + re.escape(piece)
    compiled = re.compile(regex, re.DOTALL)
    return lambda seen: compiled.fullmatch(seen) is not None


def _test(op: str, value: Any) -> Callable[[Any], bool]:
    """The leaf's test of the value seen (MISSING when the path led nowhere)."""
    if op == "eq":
        if value is None:
            return lambda seen: seen is MISSING or seen is None
        if type(value) is str:
            return lambda seen: type(seen) is str and seen == value
        return lambda seen: same(seen, value)
    if op == "ne":
        inner = _test("eq", value)
        return lambda seen: not inner(seen)
    if op in ("lt", "le", "gt", "ge"):
        compare: Callable[[Any, Any], bool] = getattr(operator, op)
        return lambda seen: _is_number(seen) and compare(seen, value)
    if op == "in":
        tests = [_test("eq", item) for item in value]
        return lambda seen: any(test(seen) for test in tests)
    if op == "contains":
        if isinstance(value, str):
            return lambda seen: (
                (isinstance(seen, str) and value in seen)
                or (type(seen) is list and any(same(item, value) for item in seen))
            )
        return lambda seen: type(seen) is list and any(same(item, value) for item in seen)
    if op == "starts_with":
        return lambda seen: isinstance(seen, str) and seen.startswith(value)
    if op == "ends_with":
        return lambda seen: isinstance(seen, str) and seen.endswith(value)
    if op == "match":
        glob = _glob(value)
        return lambda seen: isinstance(seen, str) and glob(seen)
    present = bool(value)  # exists
    return lambda seen: (seen is not MISSING and seen is not None) is present


# -- compiling ------------------------------------------------------------------------


def compile_predicate(node: Node) -> Predicate:
    """The tree as one function of the event view (short-circuiting, as Python's)."""
    if isinstance(node, Leaf):
        get, value = getter(node.path), node.value
        # The commonest leaves, with the test inlined (a string equals only a string).
        if node.op == "eq" and type(value) is str:
            return lambda view: bool(get(view) == value)
        if node.op == "ne" and type(value) is str:
            return lambda view: bool(get(view) != value)
        if node.op in ("eq", "ne") and value is None:
            wanted = node.op == "eq"
            return lambda view: ((seen := get(view)) is MISSING or seen is None) is wanted
        test = _test(node.op, value)
        return lambda view: test(get(view))
    if isinstance(node, Not):
        inner = compile_predicate(node.item)
        return lambda view: not inner(view)
    items = tuple(compile_predicate(item) for item in node.items)
    if len(items) == 2:
        first, second = items
        if node.kind == "all":
            return lambda view: first(view) and second(view)
        return lambda view: first(view) or second(view)
    if node.kind == "all":
        return lambda view: all(item(view) for item in items)
    return lambda view: any(item(view) for item in items)


def compile_traced(node: Node) -> Traced:
    """The tree as a function that also appends, per leaf, what it saw and whether it held.
    Every leaf is evaluated (no short-circuit), so a preview shows each one."""
    if isinstance(node, Leaf):
        get, test = getter(node.path), _test(node.op, node.value)
        shown = tree_json(node)

        def leaf(view: dict[str, Any], trace: list[dict[str, Any]]) -> bool:
            seen = get(view)
            held = test(seen)
            entry = {**shown, "saw": None if seen is MISSING else seen, "matched": held}
            if seen is MISSING:
                entry["missing"] = True
            trace.append(entry)
            return held

        return leaf
    if isinstance(node, Not):
        inner = compile_traced(node.item)
        return lambda view, trace: not inner(view, trace)
    items = tuple(compile_traced(item) for item in node.items)
    if node.kind == "all":
        return lambda view, trace: all([item(view, trace) for item in items])
    return lambda view, trace: any([item(view, trace) for item in items])


def specialise(node: Node, kind: str, name: Any) -> Node | bool:
    """The tree for events of this `type` and `event` name: leaves on those two fields
    decided now (True or False), the rest kept; True or False when nothing is left.
    Exactly the tree's answer for every such event (a missing name and a null one are
    alike to every op), so the engine may evaluate this instead, kept per pair."""
    if isinstance(node, Leaf):
        if node.path == ("type",):
            return _test(node.op, node.value)(kind)
        if node.path == ("event",):
            return _test(node.op, node.value)(MISSING if name is None else name)
        return node
    if isinstance(node, Not):
        inner = specialise(node.item, kind, name)
        return (not inner) if isinstance(inner, bool) else Not(inner)
    decisive = node.kind == "any"  # what one item must be to decide the group
    kept: list[Node] = []
    for item in node.items:
        found = specialise(item, kind, name)
        if found is decisive:
            return decisive
        if not isinstance(found, bool):
            kept.append(found)
    if not kept:
        return not decisive
    return kept[0] if len(kept) == 1 else Group(node.kind, tuple(kept))


def always(view: dict[str, Any]) -> bool:
    """A rule with no `when`: every event."""
    return True
