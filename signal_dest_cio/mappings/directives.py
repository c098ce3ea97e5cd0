"""Field values of a rule's actions (SPEC 12): literals, or directives with Segment's
meaning, compiled to plain functions when the config is saved.

A directive is an object with one `@` key: `{"@path": "properties.email"}`. A value
that is neither (a string, a number, an object of other keys, a list) is a literal
whose nested values may themselves be directives. A compiled value is a function of
the root it reads (the event view; inside `@arrayPath`, the item) that returns the
value, or MISSING, which removes the key it stood for. Nothing is evaluated from
text: each directive is one of the functions below, chosen by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .casts import CASTERS, CASTS, text_of
from .paths import MISSING, PathError, getter, parse_path

MAX_DEPTH = 32


class DirectiveError(ValueError):
    """A directive that cannot be compiled; `where` is its place inside the field."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message, self.where = message, where


class Notes:
    """What resolving an action's fields noticed, for previews: the keys `@omit` took."""

    __slots__ = ("field", "omitted")

    def __init__(self) -> None:
        self.field = ""
        self.omitted: list[str] = []


Resolver = Callable[[Any, "Notes | None"], Any]
DIRECTIVES = (
    "@path", "@template", "@if", "@arrayPath", "@literal", "@case", "@replace", "@merge",
    "@excludeWhenNull", "@coalesce", "@omit", "@cast",
)  # fmt: skip


def is_directive(value: Any) -> bool:
    return type(value) is dict and any(isinstance(k, str) and k.startswith("@") for k in value)


def compile_value(spec: Any, where: tuple[str | int, ...] = ()) -> Resolver:
    """The function that resolves `spec`; a DirectiveError names the place and problem."""
    if len(where) > MAX_DEPTH:
        raise DirectiveError(f"values are nested more than {MAX_DEPTH} deep", where)
    if type(spec) is dict:
        if is_directive(spec):
            if len(spec) != 1:
                raise DirectiveError("a directive is an object with exactly one @ key", where)
            [(name, argument)] = spec.items()
            compiler = _COMPILERS.get(name)
            if compiler is None:
                known = ", ".join(DIRECTIVES)
                raise DirectiveError(f"unknown directive {name!r}; directives are {known}", where)
            return compiler(argument, (*where, name))
        items = [(key, compile_value(value, (*where, key))) for key, value in spec.items()]
        if all(isinstance(resolver, _Constant) for _, resolver in items):
            return _Constant(spec)
        return _object(items)
    if type(spec) is list:
        resolvers = [compile_value(item, (*where, i)) for i, item in enumerate(spec)]
        if all(isinstance(resolver, _Constant) for resolver in resolvers):
            return _Constant(spec)
        return lambda root, notes: [
            value for r in resolvers if (value := r(root, notes)) is not MISSING
        ]
    if spec is None or type(spec) in (str, int, float, bool):
        return _Constant(spec)
    raise DirectiveError("a value must be JSON", where)


class _Constant:
    """A literal: the same value for every event (a fresh copy of a container)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, root: Any, notes: Notes | None) -> Any:
        value = self.value
        return json.loads(json.dumps(value)) if type(value) in (dict, list) else value


def _object(items: list[tuple[str, Resolver]]) -> Resolver:
    def resolve(root: Any, notes: Notes | None) -> Any:
        out = {}
        for key, resolver in items:
            value = resolver(root, notes)
            if value is not MISSING:
                out[key] = value
        return out

    return resolve


def _arguments(
    argument: Any, where: tuple[str | int, ...], required: set[str], optional: set[str]
) -> dict[str, Any]:
    if not isinstance(argument, dict):
        raise DirectiveError(f"takes an object with {', '.join(sorted(required))}", where)
    missing = required - set(argument)
    if missing:
        raise DirectiveError(f"needs {sorted(missing)[0]!r}", where)
    unknown = set(argument) - required - optional
    if unknown:
        raise DirectiveError(f"takes no {sorted(unknown)[0]!r}", where)
    return argument


def _path(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    try:
        get = getter(parse_path(argument))
    except PathError as error:
        raise DirectiveError(f"bad path: {error}", where) from None
    return lambda root, notes: get(root)


_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _template(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    if not isinstance(argument, str):
        raise DirectiveError("takes a string with {{path}} placeholders", where)
    parts: list[str | Callable[[Any], Any]] = []
    last = 0
    for match in _PLACEHOLDER.finditer(argument):
        parts.append(argument[last : match.start()])
        try:
            parts.append(getter(parse_path(match.group(1))))
        except PathError as error:
            raise DirectiveError(f"bad path in {match.group()}: {error}", where) from None
        last = match.end()
    parts.append(argument[last:])

    def render(root: Any, notes: Notes | None) -> str:
        return "".join(part if isinstance(part, str) else text_of(part(root)) for part in parts)

    return render


def is_blank(value: Any) -> bool:
    """Missing, null, or a string of whitespace only."""
    return value is MISSING or value is None or (isinstance(value, str) and not value.strip())


def _if(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    tests = [key for key in ("exists", "blank") if isinstance(argument, dict) and key in argument]
    if len(tests) != 1:
        raise DirectiveError("takes exactly one of exists or blank, with then and/or else", where)
    args = _arguments(argument, where, {tests[0]}, {"then", "else"})
    if "then" not in args and "else" not in args:
        raise DirectiveError("needs then or else", where)
    subject = compile_value(args[tests[0]], (*where, tests[0]))
    then = compile_value(args["then"], (*where, "then")) if "then" in args else None
    # A falsy else (false, 0, "") is a value like any other: kept (Segment drops it).
    otherwise = compile_value(args["else"], (*where, "else")) if "else" in args else None
    blank = tests[0] == "blank"

    def resolve(root: Any, notes: Notes | None) -> Any:
        value = subject(root, notes)
        held = is_blank(value) if blank else value is not MISSING and value is not None
        chosen = then if held else otherwise
        return MISSING if chosen is None else chosen(root, notes)

    return resolve


def _array_path(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    if not isinstance(argument, list) or not 1 <= len(argument) <= 2:
        raise DirectiveError("takes [path] or [path, {shape of each item}]", where)
    source = compile_value(
        argument[0] if is_directive(argument[0]) else {"@path": argument[0]}, (*where, 0)
    )
    shape = compile_value(argument[1], (*where, 1)) if len(argument) == 2 else None

    def resolve(root: Any, notes: Notes | None) -> Any:
        items = source(root, notes)
        if type(items) is dict:
            items = [items]
        if type(items) is not list:
            return MISSING
        if shape is None:
            return items
        return [value for item in items if (value := shape(item, notes)) is not MISSING]

    return resolve


def _literal(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    try:
        json.dumps(argument, allow_nan=False)
    except (TypeError, ValueError):
        raise DirectiveError("takes a JSON value", where) from None
    return _Constant(argument)


def _case(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    args = _arguments(argument, where, {"operator", "value"}, set())
    if args["operator"] not in ("lower", "upper"):
        raise DirectiveError("operator must be lower or upper", (*where, "operator"))
    value = compile_value(args["value"], (*where, "value"))
    upper = args["operator"] == "upper"

    def resolve(root: Any, notes: Notes | None) -> Any:
        found = value(root, notes)
        if not isinstance(found, str):
            return found
        return found.upper() if upper else found.lower()

    return resolve


def _replace(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    optional = {"replacement", "global", "ignorecase", "pattern2", "replacement2"}
    args = _arguments(argument, where, {"pattern", "value"}, optional)
    steps = []
    for suffix in ("", "2"):
        pattern = args.get("pattern" + suffix)
        if pattern is None:
            continue
        replacement = args.get("replacement" + suffix, "")
        if not isinstance(pattern, str) or not pattern or not isinstance(replacement, str):
            raise DirectiveError("pattern and replacement must be strings", (*where, "pattern"))
        for flag in ("global", "ignorecase"):
            if not isinstance(args.get(flag, False), bool):
                raise DirectiveError(f"{flag} must be true or false", (*where, flag))
        # The pattern is text to find, never a regular expression (as Segment's).
        flags = re.IGNORECASE if args.get("ignorecase", False) else 0
        steps.append((re.compile(re.escape(pattern), flags), replacement.replace("\\", "\\\\")))
    count = 0 if args.get("global", True) else 1
    value = compile_value(args["value"], (*where, "value"))

    def resolve(root: Any, notes: Notes | None) -> Any:
        found = value(root, notes)
        if not isinstance(found, str):
            return found
        for compiled, replacement in steps:
            found = compiled.sub(replacement, found, count=count)
        return found

    return resolve


def _merge(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    args = _arguments(argument, where, {"objects"}, {"direction"})
    if not isinstance(args["objects"], list) or not args["objects"]:
        raise DirectiveError("objects must be a non-empty list", (*where, "objects"))
    direction = args.get("direction", "right")
    if direction not in ("left", "right"):
        raise DirectiveError("direction must be left or right", (*where, "direction"))
    parts = [compile_value(item, (*where, "objects", i)) for i, item in enumerate(args["objects"])]
    if direction == "left":  # the first object's keys win
        parts.reverse()

    def resolve(root: Any, notes: Notes | None) -> Any:
        out: dict[str, Any] = {}
        for part in parts:
            found = part(root, notes)
            if type(found) is dict:
                out.update(found)
        return out

    return resolve


def _exclude_when_null(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    value = compile_value(argument, where)

    def resolve(root: Any, notes: Notes | None) -> Any:
        found = value(root, notes)
        return MISSING if found is None else found

    return resolve


def _coalesce(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    if not isinstance(argument, list) or not argument:
        raise DirectiveError("takes a non-empty list of values", where)
    choices = [compile_value(item, (*where, i)) for i, item in enumerate(argument)]

    def resolve(root: Any, notes: Notes | None) -> Any:
        for choice in choices:
            found = choice(root, notes)
            if found is not MISSING and found is not None:
                return found
        return MISSING

    return resolve


def _omit(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    args = _arguments(argument, where, {"value", "keys"}, set())
    keys = args["keys"]
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise DirectiveError("keys must be a list of strings", (*where, "keys"))
    dropped = frozenset(keys)
    value = compile_value(args["value"], (*where, "value"))

    def resolve(root: Any, notes: Notes | None) -> Any:
        found = value(root, notes)
        if type(found) is not dict:
            return found
        if notes is not None:
            notes.omitted += [f"{notes.field}.{key}" for key in found if key in dropped]
        return {key: item for key, item in found.items() if key not in dropped}

    return resolve


def _cast(argument: Any, where: tuple[str | int, ...]) -> Resolver:
    args = _arguments(argument, where, {"to", "value"}, set())
    to = args["to"]
    if to not in CASTS:
        raise DirectiveError(f"to must be one of {', '.join(CASTS)}", (*where, "to"))
    value = compile_value(args["value"], (*where, "value"))
    convert = CASTERS[to]

    def resolve(root: Any, notes: Notes | None) -> Any:
        found = value(root, notes)
        if found is MISSING or found is None:
            return found
        return convert(found)

    return resolve


_COMPILERS: dict[str, Callable[[Any, tuple[str | int, ...]], Resolver]] = {
    "@path": _path,
    "@template": _template,
    "@if": _if,
    "@arrayPath": _array_path,
    "@literal": _literal,
    "@case": _case,
    "@replace": _replace,
    "@merge": _merge,
    "@excludeWhenNull": _exclude_when_null,
    "@coalesce": _coalesce,
    "@omit": _omit,
    "@cast": _cast,
}
