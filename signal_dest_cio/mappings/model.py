"""The `mappings` of an integration config (SPEC 12), checked and compiled when it is saved.

`{schema_version: 1, fallback: "builtin" | "drop", rules: [{id, when?, actions, stop?}]}`.
Every problem is reported with its place (`mappings.rules.0.actions.1.fields.id`) and a
message that names the rule by its id and the field: a config that does not compile is
refused, never saved as a rule that silently never matches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .actions import SpecError, compile_action
from .conditions import (
    ConditionError,
    Node,
    always,
    compile_predicate,
    compile_traced,
    parse_tree,
)
from .engine import CompiledMappings, CompiledRule
from .fql import parse_fql

MAX_RULES = 500
MAX_ACTIONS = 50
MAX_RULE_ID = 100
_RULE_KEYS = {"id", "when", "actions", "stop", "description"}
_TOP_KEYS = {"schema_version", "fallback", "rules"}

Loc = tuple[str | int, ...]


class MappingsInvalid(ValueError):
    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems

    def validation_error(self, prefix: Loc = ("mappings",)) -> ValidationError:
        """As pydantic reports it: one `mapping_invalid` line per problem."""
        return ValidationError.from_exception_data(
            "CustomerIoConfig",
            [
                InitErrorDetails(
                    type=PydanticCustomError("mapping_invalid", "{problem}", {"problem": message}),
                    loc=(*prefix, *loc),
                    input=None,
                )
                for loc, message in self.problems
            ],
        )


def read_mappings(value: Any) -> Any:
    """A form posts text: the mappings may come as their JSON."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise MappingsInvalid([((), "must be a JSON object {schema_version, rules}")]) from None
    return value


def compile_mappings(raw: Any) -> CompiledMappings:
    """The compiled rules, or MappingsInvalid listing every problem found."""
    if not isinstance(raw, Mapping):
        raise MappingsInvalid([((), "must be an object {schema_version, fallback, rules}")])
    problems: list[tuple[Loc, str]] = []
    for key in sorted(set(raw) - _TOP_KEYS, key=str):
        problems.append(((key,), f"unknown key {key!r} (keys: schema_version, fallback, rules)"))
    if raw.get("schema_version", 1) != 1:
        problems.append((("schema_version",), "schema_version must be 1"))
    fallback = raw.get("fallback", "builtin")
    if fallback not in ("builtin", "drop"):
        problems.append((("fallback",), "fallback must be builtin or drop"))
    rules_raw = raw.get("rules", [])
    rules: list[CompiledRule] = []
    if not isinstance(rules_raw, list):
        problems.append((("rules",), "rules must be a list"))
    elif len(rules_raw) > MAX_RULES:
        problems.append((("rules",), f"at most {MAX_RULES} rules"))
    else:
        seen: set[str] = set()
        for index, rule_raw in enumerate(rules_raw):
            try:
                rule = _compile_rule(rule_raw, index)
            except _RuleProblem as problem:
                problems.append((problem.loc, problem.message))
                continue
            if rule.id in seen:
                taken = f"rule {rule.id!r}: the id is taken by an earlier rule (ids name "
                problems.append((("rules", index, "id"), taken + "rules in outcomes, dedup ids)"))
            seen.add(rule.id)
            rules.append(rule)
    if problems:
        raise MappingsInvalid(problems)
    return CompiledMappings(fallback, tuple(rules), raw)


class _RuleProblem(ValueError):
    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc, self.message = loc, message


def _compile_rule(raw: Any, index: int) -> CompiledRule:
    here: Loc = ("rules", index)
    if not isinstance(raw, dict):
        raise _RuleProblem(here, f"rule {index}: must be an object {{id, when, actions}}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip() or len(rule_id) > MAX_RULE_ID:
        raise _RuleProblem(
            (*here, "id"), f"rule {index}: id must be a non-empty string of at most "
            f"{MAX_RULE_ID} characters"
        )  # fmt: skip
    name = f"rule {rule_id!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _RuleProblem((*here, key), f"{name}: unknown key {key!r} "
                           "(keys: id, when, actions, stop, description)")  # fmt: skip
    if not isinstance(raw.get("stop", False), bool):
        raise _RuleProblem((*here, "stop"), f"{name}: stop must be true or false")
    if raw.get("when") is None:  # no condition: every event
        predicate, traced, node = always, (lambda view, trace: True), None
    else:
        predicate, traced, node = _compile_when(raw["when"], (*here, "when"), name)
    actions_raw = raw.get("actions")
    if not isinstance(actions_raw, list) or not 1 <= len(actions_raw) <= MAX_ACTIONS:
        raise _RuleProblem(
            (*here, "actions"), f"{name}: actions must list 1 to {MAX_ACTIONS} actions"
        )
    actions = []
    drop_reason: str | None = None
    for position, action_raw in enumerate(actions_raw):
        where: Loc = (*here, "actions", position)
        try:
            action = compile_action(action_raw, where)
        except SpecError as error:
            inside = ".".join(str(part) for part in error.where[len(here) :])
            raise _RuleProblem(error.where, f"{name}, {inside}: {error.message}") from None
        if action.action == "drop":
            reason = (action_raw.get("fields") or {}).get("reason")
            if reason is not None and not isinstance(reason, str):
                raise _RuleProblem((*where, "fields", "reason"),
                                   f"{name}: drop's reason must be a string")  # fmt: skip
            drop_reason = reason or ""
        actions.append(action)
    return CompiledRule(
        rule_id,
        predicate,
        traced,
        tuple(actions),
        bool(raw.get("stop", False)),
        drop_reason,
        node,
    )


def _compile_when(raw: Any, loc: Loc, name: str) -> tuple[Any, Any, Node]:
    try:
        node = parse_fql(raw) if isinstance(raw, str) else parse_tree(raw)
    except ConditionError as error:
        inside = ".".join(str(part) for part in ("when", *error.where))
        raise _RuleProblem((*loc, *error.where), f"{name}, {inside}: {error.message}") from None
    return compile_predicate(node), compile_traced(node), node
