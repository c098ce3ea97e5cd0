"""The issue's examples end to end (SPEC 12), as shipped in examples/: against the emulator
through the destination, through the CLI's preview and test-event, and through the host."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_support import US, app_for, emulator_destination, new_state, person

from signal_dest_cio.cli import main
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.harness import RecordingTransport, run_test_events

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ("signup", "order-email", "deny-debug")
FILES = {name: EXAMPLES / f"mappings.{name}.json" for name in NAMES}


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FILES[name].read_text(encoding="utf-8"))
    return loaded


def mappings(name: str) -> dict[str, Any]:
    found: dict[str, Any] = example(name)["mappings"]
    return found


SIGNUP = {
    "type": "track",
    "event": "user.signup",
    "messageId": "signup-1",
    "timestamp": "2026-03-02T09:15:04Z",
    "properties": {"email": "ada@example.com", "password": "hunter2", "plan": "pro"},
}
ORDER = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u-7",
    "messageId": "order-1",
    "timestamp": "2026-03-02T09:16:00Z",
    "properties": {"email": "ada@example.com", "order": "A-1", "total": 42},
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_shipped_example_loads_with_its_rules(name: str) -> None:
    config = CustomerIoConfig.model_validate(example(name))
    assert config.compiled_mappings is not None and config.compiled_mappings.rules


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_signup_identifies_without_the_secrets_then_tracks_in_order(api: str) -> None:
    state = new_state()
    destination = emulator_destination(state, api, mappings=mappings("signup"))
    recorder = RecordingTransport(httpx.ASGITransport(app=app_for(state)))
    destination._transport = recorder
    async with destination:
        [outcome] = await destination.deliver([SIGNUP])
    assert (outcome.kind, outcome.rules) == ("delivered", ("signup",))
    ada = person(state, "ada@example.com")
    assert ada["identifiers"]["email"] == "ada@example.com"
    assert ada["attributes"].get("plan") == "pro"
    assert "password" not in ada["attributes"]
    [event] = ada["activity"]
    assert event["name"] == "user.signup"
    assert event["data"] == {"email": "ada@example.com", "plan": "pro"}
    # The identify went out before the event (one lane, in order).
    if api == "v1":
        assert [(e.method, e.url.rsplit("/", 1)[-1]) for e in recorder.exchanges] == [
            ("PUT", "ada%40example.com"),
            ("POST", "events"),
        ]
    else:
        [batch] = recorder.exchanges
        assert [item["action"] for item in batch.body["batch"]] == ["identify", "event"]


async def test_signup_with_a_user_id_uses_it() -> None:
    state = new_state()
    async with emulator_destination(state, mappings=mappings("signup")) as destination:
        [outcome] = await destination.deliver([SIGNUP | {"userId": "u-1"}])
    assert outcome.kind == "delivered"
    assert person(state, "u-1")["attributes"]["plan"] == "pro"


async def test_an_order_with_an_email_sends_message_7_through_the_app_api() -> None:
    state = new_state()
    async with emulator_destination(state, mappings=mappings("order-email")) as destination:
        no_email = ORDER | {"messageId": "order-2", "properties": {"order": "B"}}
        outcomes = await destination.deliver([ORDER, no_email])
    assert [(o.kind, o.rules) for o in outcomes] == [
        ("delivered", ("order-receipt",)),
        ("delivered", ()),
    ]
    [send] = state.sends_view(US.site_id)
    assert send["transactional_message_id"] == 7
    assert send["to"] == "ada@example.com"
    assert send["message_data"] == ORDER["properties"]
    # The order without an email matched no rule: the built-in mapping tracked it.
    assert [a["name"] for a in person(state, "u-7")["activity"]] == ["Order Completed"]


class LostAnswer(httpx.AsyncBaseTransport):
    """Forwards each App API request, then loses the answer (the send did happen)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/v1/send/email":
            self.sent += 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


async def test_a_send_whose_answer_is_lost_is_never_repeated() -> None:
    state = new_state()
    destination = emulator_destination(state, mappings=mappings("order-email"))
    lossy = LostAnswer(httpx.ASGITransport(app=app_for(state)))
    destination._app_transport = lossy
    async with destination:
        [outcome] = await destination.deliver([ORDER])
        assert (outcome.kind, outcome.code) == ("rejected", "outcome_unknown")
        assert lossy.sent == 1 and len(state.sends_view(US.site_id)) == 1


async def test_debug_and_test_events_are_filtered_with_the_reason() -> None:
    state = new_state()
    events = [
        {"type": "track", "event": "debug.cache_miss", "userId": "u-1"},
        {"type": "track", "event": "Test Event", "userId": "u-1"},
        {"type": "track", "event": "Debug.upper", "userId": "u-1"},  # case counts
        {"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}},
    ]
    async with emulator_destination(state, mappings=mappings("deny-debug")) as destination:
        outcomes = await destination.deliver(events)
    assert [(o.kind, o.code) for o in outcomes[:2]] == [("filtered", "dropped_by_rule")] * 2
    assert outcomes[0].message == "rule 'deny-debug' dropped the event: debug or test traffic"
    assert [o.kind for o in outcomes[2:]] == ["delivered", "delivered"]
    assert [a["name"] for a in person(state, "u-1")["activity"]] == ["Debug.upper"]


def test_cli_preview_shows_the_trace_the_omitted_keys_and_that_nothing_was_sent(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(SIGNUP) + "\n", encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["preview", "--config", str(FILES["signup"]), str(events)]) == 0
    record = json.loads(out.getvalue())
    assert record["sent"] is False and "nothing was sent" in record["note"]
    [rule] = record["mapping"]["rules"]
    assert rule["matched"] is True
    assert [(c["path"], c["saw"], c["matched"]) for c in rule["conditions"]] == [
        ("type", "track", True),
        ("event", "user.signup", True),
    ]
    identify, track = rule["actions"]
    assert identify["fields"]["attributes"] == {"plan": "pro"}
    assert identify["omitted"] == ["attributes.email", "attributes.password"]
    assert track["omitted"] == ["data.password"]
    assert [r["url"] for r in record["requests"]] == ["http://127.0.0.1:8010/api/v2/entity"] * 2
    assert "hunter2" not in json.dumps(record["requests"])


async def test_test_event_shows_the_trace_beside_the_requests_sent() -> None:
    state = new_state()
    config = CustomerIoConfig.model_validate(example("deny-debug"))
    transport = httpx.ASGITransport(app=app_for(state))
    debug = {"type": "track", "event": "debug.x", "userId": "u-1"}
    [dropped, kept] = await run_test_events(config, [debug, debug | {"event": "x"}], transport)
    assert dropped.as_json()["mapping"]["rules"][0]["matched"] is True
    assert dropped.exchanges == [] and dropped.outcome.kind == "filtered"
    assert kept.as_json()["mapping"]["fallback_used"] == "builtin"
    assert kept.outcome.kind == "delivered" and kept.exchanges
