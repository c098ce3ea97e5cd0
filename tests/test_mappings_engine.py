"""Rules in order (SPEC 12): which fire, what they make, their dedup ids, their errors, and
the config check that refuses a rule that could never work."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.lanes import lane_keys
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped, Refused

BASE = {"site_id": "s", "tracking_api_key": "k", "api_key": "a", "region": "us"}


def config(*rules: dict[str, Any], **mappings: Any) -> CustomerIoConfig:
    return CustomerIoConfig.model_validate(BASE | {"mappings": {"rules": list(rules), **mappings}})


def rule(rule_id: str, when: Any, *actions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "when": when, "actions": list(actions), **extra}


def act(action: str, **fields: Any) -> dict[str, Any]:
    return {"action": action, "fields": fields} if fields else {"action": action}


def mapped(cfg: CustomerIoConfig, event: dict[str, Any]) -> Mapped | Refused:
    return CustomerIoDestination(cfg)._map(event)


def track(name: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    event = {"type": "track", "event": name, "userId": "u1", "messageId": "m-1"}
    return event | {"timestamp": "2026-03-02T09:15:04Z", "properties": {"plan": "pro"}, **extra}


EVENTS = [
    track(),
    {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
    {"type": "page", "anonymousId": "a1", "properties": {"url": "https://x.io/"}},
    {"type": "alias", "userId": "u1", "previousId": "old"},
    {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "G"}},
    {"type": "track", "event": "User Deleted", "userId": "u1"},
    {"type": "identify"},
]


@pytest.mark.parametrize("mappings", [None, {"rules": []}, {"schema_version": 1}])
@pytest.mark.parametrize("event", EVENTS)
def test_no_rules_is_exactly_the_built_in_mapping(mappings: Any, event: dict[str, Any]) -> None:
    cfg = CustomerIoConfig.model_validate(BASE | {"mappings": mappings})
    assert cfg.compiled_mappings is None
    builtin = map_event(event, CustomerIoConfig.model_validate(BASE))
    got = mapped(cfg, event)
    if isinstance(builtin, Mapped) and event.get("messageId") is None:
        # (no messageId: a fresh dedup id each time; everything else is equal)
        assert isinstance(got, Mapped)
        assert [o.action for o in got.operations] == [o.action for o in builtin.operations]
    else:
        assert got == builtin


def test_every_matching_rule_fires_in_order_and_the_unmatched_are_skipped() -> None:
    cfg = config(
        rule("a", 'event = "Signed Up"', act("identify_person", attributes={"a": 1})),
        rule("b", 'event = "Other"', act("track_event", name="never")),
        rule("c", "userId != null", act("track_event", name="second"), act("track_event")),
    )
    result = mapped(cfg, track())
    assert isinstance(result, Mapped)
    assert [(o.action, o.name) for o in result.operations] == [
        ("identify", None),
        ("event", "second"),
        ("event", "Signed Up"),  # the default name: the event's
    ]
    assert result.rules == ("a", "c")
    assert result.operations[2].attributes == {"plan": "pro"}  # default data: properties


def test_stop_ends_evaluation() -> None:
    cfg = config(
        rule("a", 'type = "track"', act("track_event"), stop=True),
        rule("b", 'type = "track"', act("track_event", name="never")),
    )
    result = mapped(cfg, track())
    assert isinstance(result, Mapped) and [o.name for o in result.operations] == ["Signed Up"]


def test_drop_filters_with_its_reason_and_ends_evaluation() -> None:
    cfg = config(
        rule("deny", 'match(event, "debug.*")', act("drop", reason="debug traffic")),
        rule("all", None, act("track_event")),
    )
    result = mapped(cfg, track("debug.ping"))
    assert isinstance(result, Refused)
    assert (result.kind, result.code) == ("filtered", "dropped_by_rule")
    assert result.message == "rule 'deny' dropped the event: debug traffic"
    assert isinstance(mapped(cfg, track("ping")), Mapped)


def test_a_drop_after_a_rule_that_fired_keeps_what_it_made() -> None:
    cfg = config(
        rule("first", None, act("track_event")),
        rule("deny", None, act("drop")),
        rule("never", None, act("track_event", name="never")),
    )
    result = mapped(cfg, track())
    assert isinstance(result, Mapped) and [o.name for o in result.operations] == ["Signed Up"]


def test_fallback_builtin_or_drop_for_an_event_no_rule_matched() -> None:
    only = rule("orders", 'event = "Order Completed"', act("track_event"))
    builtin = mapped(config(only), track())
    assert builtin == map_event(track(), CustomerIoConfig.model_validate(BASE))
    dropped = mapped(config(only, fallback="drop"), track())
    assert isinstance(dropped, Refused)
    assert (dropped.kind, dropped.code) == ("filtered", "no_rule_matched")


def test_consent_still_filters_before_any_rule() -> None:
    cfg = config(rule("all", None, act("track_event")))
    result = mapped(cfg, track(context={"consent": {"marketing": False}}))
    assert isinstance(result, Refused) and result.code == "consent_denied"


def test_dedup_ids_are_per_action_stable_and_never_collide() -> None:
    cfg = config(
        rule("a", None, act("track_event"), act("track_event", name="again")),
        rule("b", None, act("track_event")),
    )
    first, again = mapped(cfg, track()), mapped(cfg, track())
    other = mapped(cfg, track(messageId="m-2"))
    assert isinstance(first, Mapped) and isinstance(again, Mapped) and isinstance(other, Mapped)
    ids = [o.event_id for o in first.operations]
    assert len(set(ids)) == 3
    assert ids == [o.event_id for o in again.operations]  # a retry sends the same ids
    assert not set(ids) & {o.event_id for o in other.operations}
    builtin = map_event(track(), CustomerIoConfig.model_validate(BASE))
    assert isinstance(builtin, Mapped) and builtin.operations[0].event_id not in ids
    assert all(i is not None and i[:10] == ids[0][:10] for i in ids)  # the event's time


def test_a_field_that_resolves_wrong_rejects_that_action_only() -> None:
    cfg = config(
        rule("bad", None, act("track_event", data={"n": {"@cast": {"to": "number",
                                                                   "value": {"@path": "event"}}}})),
        rule("good", None, act("track_event", name="fine")),
    )  # fmt: skip
    result = mapped(cfg, track())
    assert isinstance(result, Mapped) and [o.name for o in result.operations] == ["fine"]
    assert "mapping_error:bad:data" in result.warnings
    assert result.rules == ("good",)


def test_when_every_action_fails_the_event_is_rejected_naming_rule_and_field() -> None:
    cfg = config(rule("signup", None, act("identify_person", id={"@path": "properties.nope"})))
    result = mapped(cfg, {"type": "track", "event": "x", "anonymousId": "a1"})
    assert isinstance(result, Refused)
    assert (result.kind, result.code, result.field) == ("rejected", "mapping_error", "id")
    assert "rule 'signup'" in result.message and "field id" in result.message


def test_an_identifier_is_checked_at_save_time_as_a_literal_and_at_send_time_as_resolved() -> None:
    with pytest.raises(ValidationError, match="field id is over 150 bytes"):
        config(rule("r", None, act("identify_person", id="x" * 151)))
    cfg = config(rule("r", None, act("identify_person", id={"@path": "properties.long"})))
    result = mapped(cfg, track(properties={"long": "x" * 151}))
    assert isinstance(result, Refused) and result.code == "mapping_error"
    assert "over 150 bytes" in result.message


def test_lanes_see_the_identifiers_a_rule_sends_to() -> None:
    cfg = config(
        rule("by-email", None,
             act("identify_person", id={"@path": "properties.email"}),
             act("merge_people", primary={"@path": "properties.email"}, secondary="legacy-9")),
    )  # fmt: skip
    result = mapped(cfg, track(userId=None, properties={"email": "Ada@Example.com"},
                               anonymousId="anon-1"))  # fmt: skip
    assert isinstance(result, Mapped)
    assert set(lane_keys(result)) == {"p:ada@example.com", "a:anon-1", "p:legacy-9"}


def test_each_action_makes_the_built_in_operation() -> None:
    group = {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "G"}}
    cfg = config(
        rule("o", 'type = "group"', act("identify_object")),
        rule("p", 'type = "page"', act("track_page")),
        rule("s", 'type = "screen"', act("track_screen")),
        rule("m", 'type = "alias"', act("merge_people")),
        rule("d", 'event = "User Deleted"', act("delete_person")),
    )
    base = CustomerIoConfig.model_validate(BASE)
    for event in [
        group,
        {"type": "page", "userId": "u1", "name": "Home", "properties": {"url": "https://x.io/"}},
        {"type": "screen", "userId": "u1", "name": "Settings"},
        {"type": "alias", "userId": "u1", "previousId": "old"},
        {"type": "track", "event": "User Deleted", "userId": "u1"},
    ]:
        ours, builtin = mapped(cfg, event), map_event(event, base)
        assert isinstance(ours, Mapped) and isinstance(builtin, Mapped), event
        strip = [o.__class__(**{**_fields(o), "event_id": None, "data_json": None})
                 for o in ours.operations]  # fmt: skip
        expected = [o.__class__(**{**_fields(o), "event_id": None, "data_json": None})
                    for o in builtin.operations]  # fmt: skip
        assert strip == expected, event["type"]


def _fields(op: Any) -> dict[str, Any]:
    return {name: getattr(op, name) for name in op.__slots__}


# -- saving: a rule that cannot work is refused, naming rule, field and problem ------------


@pytest.mark.parametrize(
    ("rules", "loc", "words"),
    [
        ([rule("r1", None, act("tag_person"))], ("rules", 0, "actions", 0, "action"),
         ["rule 'r1'", "unknown action 'tag_person'"]),
        ([rule("r1", None, act("track_event", nmae="x"))],
         ("rules", 0, "actions", 0, "fields", "nmae"), ["rule 'r1'", "no field 'nmae'"]),
        ([rule("r1", {"path": "event", "op": "like", "value": "x"}, act("drop"))],
         ("rules", 0, "when", "op"), ["rule 'r1'", "unknown op 'like'"]),
        ([rule("r1", 'event ~ "x"', act("drop"))], ("rules", 0, "when"),
         ["rule 'r1'", "at character 7"]),
        ([rule("r1", None, act("track_event", name={"@pth": "event"}))],
         ("rules", 0, "actions", 0, "fields", "name"), ["rule 'r1'", "field name",
                                                        "unknown directive '@pth'"]),
        ([rule("r1", None, act("track_event", data={"@path": "properties..x"}))],
         ("rules", 0, "actions", 0, "fields", "data", "@path"), ["rule 'r1'", "bad path"]),
        ([rule("r1", None, act("track_event", data="not an object"))],
         ("rules", 0, "actions", 0, "fields", "data"), ["rule 'r1'", "must be an object"]),
        ([rule("r1", None, act("send_transactional_email", message_id=True))],
         ("rules", 0, "actions", 0, "fields", "message_id"), ["rule 'r1'", "message id"]),
        ([rule("r1", None, act("send_transactional_email"))],
         ("rules", 0, "actions", 0, "fields", "message_id"), ["needs the field message_id"]),
        ([rule("r1", None, act("drop")), rule("r1", None, act("drop"))], ("rules", 1, "id"),
         ["rule 'r1'", "taken"]),
        ([{"id": "r1", "actions": []}], ("rules", 0, "actions"), ["rule 'r1'", "1 to 50"]),
        ([{"id": "", "actions": [act("drop")]}], ("rules", 0, "id"), ["rule 0", "id must be"]),
        ([{"id": "r1", "actions": [act("drop")], "then": 1}], ("rules", 0, "then"),
         ["unknown key 'then'"]),
    ],
)  # fmt: skip
def test_an_invalid_rule_is_a_validation_error_naming_rule_field_and_problem(
    rules: list[Any], loc: tuple[Any, ...], words: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerIoConfig.model_validate(BASE | {"mappings": {"rules": rules}})
    [error] = caught.value.errors()
    assert error["loc"] == ("mappings", *loc)
    for word in words:
        assert word in error["msg"]


def test_every_bad_rule_is_reported_not_just_the_first() -> None:
    rules = [rule("a", "event =", act("drop")), rule("b", None, act("nope"))]
    with pytest.raises(ValidationError) as caught:
        CustomerIoConfig.model_validate(BASE | {"mappings": {"rules": rules}})
    assert [e["loc"][:3] for e in caught.value.errors()] == [
        ("mappings", "rules", 0),
        ("mappings", "rules", 1),
    ]


def test_rules_need_a_track_api_mode() -> None:
    pipelines = {"api": "pipelines", "cdp_api_key": "c", "region": "us"}
    mappings = {"rules": [rule("r", None, act("drop"))]}
    with pytest.raises(ValidationError, match="Track API mode"):
        CustomerIoConfig.model_validate(pipelines | {"mappings": mappings})


def test_mappings_posted_as_json_text_are_read_and_stored_as_given() -> None:
    text = '{"rules": [{"id": "r", "when": "event = \\"x\\"", "actions": [{"action": "drop"}]}]}'
    cfg = CustomerIoConfig.model_validate(BASE | {"mappings": text})
    assert cfg.compiled_mappings is not None
    assert cfg.model_dump()["mappings"]["rules"][0]["when"] == 'event = "x"'  # as written
    assert CustomerIoConfig.model_validate(cfg.model_dump(mode="json") | BASE) == cfg
