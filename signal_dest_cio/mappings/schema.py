"""The JSON Schema of `mappings` (SPEC 12), for the config schema the catalog serves:
rules, conditions (the tree and the string form), actions and their fields, directives.

The schema describes; the compiler (model.py) decides. Everything the schema lets
through that cannot work (a bad path, a literal of the wrong type) is refused on save.
"""

from __future__ import annotations

from typing import Any

from .casts import CASTS
from .conditions import OPS
from .directives import DIRECTIVES
from .fields import ACTION_FIELDS, KINDS

DIRECTIVE: dict[str, Any] = {
    "type": "object",
    "description": "a directive: one @ key, Segment's meaning (@path: a missing value removes "
    "the key; @template {{path}}; @if exists|blank then else; @arrayPath [path, shape]; "
    "@literal; @case; @replace; @merge; @excludeWhenNull) plus @coalesce [values], "
    "@omit {value, keys}, @cast {to: " + "|".join(CASTS) + ", value}",
    "minProperties": 1,
    "maxProperties": 1,
    "propertyNames": {"enum": list(DIRECTIVES)},
}

LEAF: dict[str, Any] = {
    "type": "object",
    "required": ["path", "op"],
    "additionalProperties": False,
    "properties": {
        "path": {
            "description": "properties.email, context.traits.plan, items.0 (dicts and lists "
            "only; \\ escapes the next character)",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1},
            ],
        },
        "op": {"enum": list(OPS)},
        "value": {"description": "what the op compares with (exists: true or false)"},
    },
}

CONDITION: dict[str, Any] = {
    "description": "a JSON tree ({all: [...]}, {any: [...]}, {not: ...}, or a leaf "
    '{path, op, value}), or a string in the FQL subset: type = "track" and '
    '(event = "A" or match(event, "debug.*")); and binds tighter than or',
    "anyOf": [
        {"type": "string", "minLength": 1},
        LEAF,
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "all": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                "any": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                "not": {"type": "object"},
            },
            "additionalProperties": False,
        },
    ],
}


def _field_schema(kind: str, description: str) -> dict[str, Any]:
    literal = KINDS[kind][1]
    options = [literal, DIRECTIVE] if literal else [{}]
    schema: dict[str, Any] = {"anyOf": options}
    if description:
        schema["description"] = description
    return schema


def action_schema(action: str) -> dict[str, Any]:
    fields = ACTION_FIELDS[action]
    required = [name for name, definition in fields.items() if definition.required]
    fields_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: _field_schema(definition.kind, definition.description)
            for name, definition in fields.items()
        },
    }
    if required:
        fields_schema["required"] = required
    schema: dict[str, Any] = {
        "type": "object",
        "title": action,
        "required": ["action", "fields"] if required else ["action"],
        "additionalProperties": False,
        "properties": {"action": {"const": action}, "fields": fields_schema},
    }
    return schema


def mappings_schema() -> dict[str, Any]:
    return {
        "title": "Mappings",
        "description": "rules that choose which events go and how they map (SPEC 12); rules "
        "run in order, every match fires, drop or stop ends; an event no rule matched "
        "takes the fallback",
        "anyOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "schema_version": {"const": 1, "default": 1},
                    "fallback": {"enum": ["builtin", "drop"], "default": "builtin"},
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "actions"],
                            "additionalProperties": False,
                            "properties": {
                                "id": {"type": "string", "minLength": 1, "maxLength": 100},
                                "description": {"type": "string"},
                                "when": CONDITION,
                                "actions": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 50,
                                    "items": {"oneOf": [action_schema(a) for a in ACTION_FIELDS]},
                                },
                                "stop": {"type": "boolean", "default": False},
                            },
                        },
                    },
                },
            },
            {"type": "null"},
        ],
        "default": None,
    }
