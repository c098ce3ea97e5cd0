"""The test-event harness: per event, the requests really sent, statuses, outcome, person."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from signal_dest_cio import cli
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.harness import SAMPLE_TYPES, run_test_events, sample_event

TRACK_KEY = "harness-TRACK-key-777"
APP_KEY = "harness-APP-key-888"


def make_config(**options: Any) -> CustomerIoConfig:
    return CustomerIoConfig.model_validate(
        {
            "site_id": "harness-site",
            "tracking_api_key": TRACK_KEY,
            "api_key": APP_KEY,
            "region": "us",
            "max_requests_per_second": 10_000,
            **options,
        }
    )


def emulator_like(statuses: dict[str, int]) -> httpx.MockTransport:
    """Answers Track calls by path, and the inspection API like the emulator does."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/_emulator/workspaces/harness-site/people/"):
            return httpx.Response(200, json={"identifiers": {"id": path.rsplit("/", 1)[1]}})
        return httpx.Response(statuses.get(path, 200), json={})

    return httpx.MockTransport(handler)


async def test_each_event_reports_its_own_requests_statuses_and_outcome() -> None:
    events = [
        sample_event("identify", "u1", "m-1"),
        sample_event("track", "u1", "m-2"),
    ]
    transport = emulator_like({"/api/v1/customers/u1/events": 503})

    results = await run_test_events(make_config(api="v1"), events, transport)

    assert [r.message_id for r in results] == ["m-1", "m-2"]
    assert [(e.method, httpx.URL(e.url).path, e.status) for e in results[0].exchanges] == [
        ("PUT", "/api/v1/customers/u1", 200)
    ]
    assert results[0].exchanges[0].body["email"] == "u1@example.com"
    assert [e.status for e in results[1].exchanges] == [503]
    assert (results[0].outcome.kind, results[1].outcome.kind) == ("delivered", "retry")


async def test_the_person_is_looked_up_after_a_delivered_event_only() -> None:
    transport = emulator_like({"/api/v1/customers/u2/events": 400})

    delivered, rejected = await run_test_events(
        make_config(api="v1"),
        [sample_event("identify", "u1"), sample_event("track", "u2")],
        transport,
    )

    assert delivered.person == {"identifiers": {"id": "u1"}}
    assert rejected.person is None


async def test_a_target_without_the_inspection_api_shows_no_person() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.path.startswith("/_emulator") else 200)

    [result] = await run_test_events(
        make_config(), [sample_event("identify", "u1")], httpx.MockTransport(handler)
    )

    assert result.outcome.kind == "delivered"
    assert result.person is None


async def test_a_dropped_connection_is_recorded_with_no_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("connection dropped", request=request)

    [result] = await run_test_events(
        make_config(), [sample_event("track", "u1")], httpx.MockTransport(handler)
    )

    assert [e.status for e in result.exchanges] == [None]
    assert result.outcome.code == "connection_error"


@pytest.mark.parametrize("kind", SAMPLE_TYPES)
def test_every_sample_event_is_ready_to_send(kind: str) -> None:
    from signal_dest_cio.mapping import map_event
    from signal_dest_cio.operations import Mapped

    assert isinstance(map_event(sample_event(kind, "u1"), make_config()), Mapped)


def test_the_test_event_command_prints_one_line_per_event_without_secrets(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            make_config(track_api_base_url="http://127.0.0.1:9").model_dump(mode="json")
            | {"tracking_api_key": TRACK_KEY, "api_key": APP_KEY}
        )
    )
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(sample_event("identify", "u1", "m-1")) + "\n{not json\n")
    monkeypatch.setattr(httpx, "AsyncHTTPTransport", lambda: emulator_like({}))

    code = cli.main(["test-event", "--config", str(config), "--file", str(events)])

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # one delivered, one not JSON
    assert [line["outcome"]["kind"] for line in lines] == ["delivered", "rejected"]
    assert lines[0]["requests"][0]["status"] == 200
    assert lines[1]["outcome"]["code"] == "malformed_json"
    for secret in (TRACK_KEY, APP_KEY):
        assert secret not in out + err


def test_sample_events_carry_a_message_id_and_a_valid_timestamp() -> None:
    from signal_dest_cio.mapping import map_event
    from signal_dest_cio.operations import Mapped

    first, second = sample_event("track", "u1"), sample_event("track", "u1")
    result = map_event(first, make_config())

    assert first["messageId"] != second["messageId"]
    assert isinstance(result, Mapped)
    assert "timestamp_invalid" not in result.warnings
