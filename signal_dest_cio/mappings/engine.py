"""Rules in order (SPEC 12): every rule that matches fires, its actions in order; `drop`
or `stop` ends the evaluation; an event no rule matched takes the fallback.

Pure, like the mapper: an event in, `Mapped` (the operations of every action that
fired, in order, so they run in the event's lane as one event's requests do), or
`Refused`, or None for "the built-in mapping" out. An action whose field resolves
wrong costs that action only (a `mapping_error` warning naming rule and field);
when no action is left, the event is rejected `mapping_error`.
"""

from __future__ import annotations

from collections.abc import Mapping as AbstractMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import CustomerIoConfig
from ..events import Event, InvalidEvent, parse_event
from ..mapping import consent_denied, map_parsed
from ..operations import Mapped, Operation, Refused
from .actions import ActionError, CompiledAction, RuleContext
from .conditions import Node, Predicate, Traced, compile_predicate, specialise
from .directives import Notes


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    predicate: Predicate
    traced: Traced
    actions: tuple[CompiledAction, ...]
    stop: bool
    drop_reason: str | None  # set when one of its actions is `drop`
    when: Node | None = None  # the tree `predicate` was compiled from (None: every event)

    def for_kind(self, kind: str, name: str | None) -> Predicate | bool:
        """This rule for events of one type and name (conditions.specialise): False when
        it cannot match them, True when it always does, else the predicate left."""
        if self.when is None:
            return True
        found = specialise(self.when, kind, name)
        return found if isinstance(found, bool) else compile_predicate(found)


@dataclass(slots=True)
class Explanation:
    """What a preview shows of the rules: each rule, matched or not, each condition with
    the value it saw, and for each action its resolved fields and what was omitted."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    fallback: str | None = None  # "builtin" or "drop" when no rule matched

    def as_json(self) -> dict[str, Any]:
        return {"rules": self.rules, "fallback_used": self.fallback}


MAX_INDEXED = 4096  # (type, event name) pairs whose candidate rules are kept
Candidates = tuple[tuple[CompiledRule, "Predicate | None"], ...]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledMappings:
    fallback: Literal["builtin", "drop"]
    rules: tuple[CompiledRule, ...]
    source: AbstractMapping[str, Any]  # as configured: two equal configs compare equal
    _candidates: dict[tuple[str, Any], Candidates] = field(default_factory=dict, repr=False)

    def candidates(self, event: Event) -> Candidates:
        """The rules that may match this event, in order, each with what is left of its
        condition once the event's type and name are known (None: nothing left, it
        matches). Kept per (type, name): events come in few kinds."""
        name = _event_name(event)
        key = (event.type, name)
        found = self._candidates.get(key)
        if found is None:
            if not isinstance(name, str | None):  # a name no rule can be decided on
                return tuple((rule, rule.predicate) for rule in self.rules)
            found = tuple(
                (rule, None if test is True else test)
                for rule in self.rules
                if (test := rule.for_kind(event.type, name)) is not False
            )
            if len(self._candidates) >= MAX_INDEXED:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledMappings) and other.source == self.source

    def __hash__(self) -> int:
        return id(self)

    def uses(self, action: str) -> bool:
        return any(a.action == action for rule in self.rules for a in rule.actions)


def map_with_rules(
    raw: Any,
    config: CustomerIoConfig,
    mappings: CompiledMappings,
    explanation: Explanation | None = None,
) -> Mapped | Refused:
    """`map_event` for a config with rules: parsed and consent-checked as the built-in
    mapping is, then the rules; the built-in mapping when none matched (fallback builtin)."""
    event = parse_event(raw)
    if isinstance(event, InvalidEvent):
        return Refused("rejected", event.code, event.message, event.field, event.message_id)
    consent = event.context.consent
    if config.respect_consent and consent and consent_denied(consent, config.consent_category):
        return map_parsed(event, config)  # its refusal, word for word
    result = evaluate(event, config, mappings, explanation)
    if result is not None:
        return result
    if mappings.fallback == "drop":
        return Refused(
            "filtered",
            "no_rule_matched",
            "no mapping rule matched the event, and the fallback is drop",
            None,
            event.message_id,
        )
    return map_parsed(event, config)


def evaluate(
    event: Event,
    config: CustomerIoConfig,
    mappings: CompiledMappings,
    explanation: Explanation | None = None,
) -> Mapped | Refused | None:
    """The rules' result for a parsed event; None when no rule matched. A preview
    evaluates every rule (to show each); delivery only those that may match."""
    rules: Candidates = (
        tuple((rule, rule.predicate) for rule in mappings.rules)
        if explanation is not None
        else mappings.candidates(event)
    )
    if explanation is None:  # the common case first: no rule matches, at least cost
        for position, (_rule, predicate) in enumerate(rules):
            if predicate is None or predicate(event):
                rules = rules[position:]
                break
        else:
            return None
    view: Any = event  # paths read the parsed event where it is (paths.getter)
    ctx: RuleContext | None = None
    operations: list[Operation] = []
    fired: list[str] = []
    errors: list[tuple[str, ActionError]] = []
    matched = False
    dropped: CompiledRule | None = None
    for index, (rule, predicate) in enumerate(rules):
        if explanation is None:
            if index and predicate is not None and not predicate(view):  # (0 matched)
                continue
        else:
            trace: list[dict[str, Any]] = []
            held = rule.traced(view, trace)
            shown: dict[str, Any] = {"id": rule.id, "matched": held, "conditions": trace}
            explanation.rules.append(shown)
            if not held:
                continue
            shown["actions"] = []
        matched = True
        for index, action in enumerate(rule.actions):
            if action.action == "drop":
                dropped = rule
                if explanation is not None:
                    shown["actions"].append({"action": "drop", "reason": rule.drop_reason})
                break
            if ctx is None:
                ctx = RuleContext(event, config)
            notes = Notes() if explanation is not None else None
            try:
                fields = action.resolve(view, notes)
                made = action.operations(fields, ctx, ctx.action_id(rule.id, index))
            except ActionError as error:
                errors.append((rule.id, error))
                ctx.warnings.append(f"mapping_error:{rule.id}:{error.field or action.action}")
                if explanation is not None:
                    shown["actions"].append(
                        {"action": action.action, "error": _said(rule.id, index, error)}
                    )
                continue
            if explanation is not None and notes is not None:
                shown["actions"].append(
                    {"action": action.action, "fields": fields, "omitted": notes.omitted}
                )
            operations += made
            if not fired or fired[-1] != rule.id:
                fired.append(rule.id)
        if dropped is not None or rule.stop:
            break
    if not matched:
        if explanation is not None:
            explanation.fallback = mappings.fallback
        return None
    warnings = tuple(ctx.warnings) if ctx is not None else ()
    if operations:
        return Mapped(event.message_id, tuple(operations), warnings, tuple(fired))
    if errors:
        rule_id, first = errors[0]
        return Refused(
            "rejected", first.code, _said(rule_id, None, first), first.field, event.message_id,
            warnings,
        )  # fmt: skip
    if dropped is not None:
        reason = f": {dropped.drop_reason}" if dropped.drop_reason else ""
        return Refused(
            "filtered",
            "dropped_by_rule",
            f"rule {dropped.id!r} dropped the event{reason}",
            None,
            event.message_id,
            warnings,
        )
    return Refused(
        "filtered", "no_actions", "the rules that matched had nothing to send", None,
        event.message_id, warnings,
    )  # fmt: skip


def _event_name(event: Event) -> Any:
    """The event's `event` as paths see it (a track's name; else an extra key, if any)."""
    if event.type == "track":
        return event.event
    extra = event.__pydantic_extra__
    return extra.get("event") if extra else None


def _said(rule_id: str, index: int | None, error: ActionError) -> str:
    where = f"rule {rule_id!r}" + (f" action {index}" if index is not None else "")
    return f"{where}: {error.message}"
