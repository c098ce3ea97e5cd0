"""`signal-cio preview` (SPEC section 7)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import structlog
from openapi import validate_request

from signal_dest_cio.cli import main
from signal_dest_cio.destination import CustomerIoDestination

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "tests" / "fixtures" / "events" / "seed.jsonl"
EXAMPLE_CONFIG = REPO / "examples" / "config.json"
TRACK_KEY = "trk-SECRET-123456"
APP_KEY = "app-SECRET-654321"
KEYS = {"message_id", "outcome", "code", "message", "warnings", "requests"}

NOON = 1_704_110_400
IDENTIFY = {
    "type": "identify",
    "messageId": "m-1",
    "userId": "u-1",
    "traits": {"plan": "pro"},
    "timestamp": "2024-01-01T12:00:00Z",
}
# Events name their time: one without gets the clock's (SPEC 3.1), and two runs differ.
TRACK = {
    "type": "track",
    "messageId": "m-2",
    "userId": "u-1",
    "event": "feature.used",
    "timestamp": "2024-01-01T12:00:00Z",
}
NO_PERSON = {"type": "identify", "messageId": "m-3", "traits": {"plan": "pro"}}
NO_CONSENT = {
    "type": "track",
    "messageId": "m-4",
    "userId": "u-1",
    "event": "newsletter.opened",
    "context": {"consent": {"marketing": False}},
}


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    # main() configures structlog for its process; keep that out of other tests.
    yield
    structlog.reset_defaults()


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    values: dict[str, Any] = {
        "site_id": "site-1",
        "tracking_api_key": TRACK_KEY,
        "api_key": APP_KEY,
        "region": "us",
    }
    values.update(overrides)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    return path


def write_events(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(text)
    return path


def jsonl(*events: Any) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_seed_events_with_the_example_config_all_come_out_ready(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, records, err = run(capsys, "preview", "--config", str(EXAMPLE_CONFIG), str(SEED))
    seed = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    assert code == 0
    assert len(seed) >= 12
    assert [record["message_id"] for record in records] == [event["messageId"] for event in seed]
    for record in records:
        assert set(record) == KEYS
        assert (record["outcome"], record["code"], record["message"]) == ("ready", None, None)
        assert record["requests"]
    assert err == ""


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_seed_preview_requests_validate_against_the_track_api(
    api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, records, _ = run(capsys, "preview", "--config", str(EXAMPLE_CONFIG), "--api", api, str(SEED))
    requests = [request for record in records for request in record["requests"]]
    assert len(requests) > len(records)  # the app install is a device and an event
    for request in requests:
        url = urlsplit(request["url"])
        assert f"{url.scheme}://{url.netloc}" == "http://127.0.0.1:8010"
        validate_request(request["method"], url.path, request["json"])


def test_seed_covers_every_event_type_and_the_device_and_lifecycle_events() -> None:
    seed = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    assert {event["type"] for event in seed} == {
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    }
    names = {event.get("event") for event in seed}
    assert {"user.signup", "feature.used", "trial.expired", "User Deleted"} <= names
    installed = next(event for event in seed if event.get("event") == "Application Installed")
    assert (
        installed["context"]["device"]["type"] == "ios" and installed["context"]["device"]["token"]
    )
    anonymous_page = next(
        event for event in seed if event["type"] == "page" and "userId" not in event
    )
    assert any(
        event["type"] == "identify" and event.get("anonymousId") == anonymous_page["anonymousId"]
        for event in seed
    )


def test_v2_is_the_default_and_each_request_is_the_single_item_entity_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    code, [record], _ = run(
        capsys, "preview", "--config", str(config), str(write_events(tmp_path, jsonl(IDENTIFY)))
    )
    assert code == 0
    assert record["requests"] == [
        {
            "method": "POST",
            "url": "https://track.customer.io/api/v2/entity",
            "json": {
                "type": "person",
                "identifiers": {"id": "u-1"},
                "action": "identify",
                "attributes": {"plan": "pro"},
                "timestamp": NOON,
            },
        }
    ]


def test_api_flag_switches_to_v1_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, region="EU")
    events = write_events(tmp_path, jsonl(IDENTIFY, TRACK))
    code, records, _ = run(capsys, "preview", "--config", str(config), "--api", "v1", str(events))
    assert code == 0
    assert [(r["method"], r["url"]) for record in records for r in record["requests"]] == [
        ("PUT", "https://track-eu.customer.io/api/v1/customers/u-1"),
        ("POST", "https://track-eu.customer.io/api/v1/customers/u-1/events"),
    ]


def test_config_api_v1_is_used_when_no_flag_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, api="v1")
    _, [record], _ = run(
        capsys, "preview", "--config", str(config), str(write_events(tmp_path, jsonl(TRACK)))
    )
    assert record["requests"][0]["url"].endswith("/api/v1/customers/u-1/events")


def test_cli_prints_what_the_preview_api_returns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    events = [IDENTIFY, TRACK, NO_CONSENT]
    _, records, _ = run(
        capsys, "preview", "--config", str(config), str(write_events(tmp_path, jsonl(*events)))
    )
    destination = CustomerIoDestination(json.loads(config.read_text()))
    assert records == [destination.preview(event).as_json() for event in events]


def test_reads_one_json_array_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps([IDENTIFY, TRACK], indent=2)))
    code, records, _ = run(capsys, "preview", "--config", str(config), "-")
    assert code == 0
    assert [record["message_id"] for record in records] == ["m-1", "m-2"]
    assert {record["outcome"] for record in records} == {"ready"}


def test_stdin_is_the_default_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(jsonl(TRACK)))
    code, records, _ = run(capsys, "preview", "--config", str(config))
    assert code == 0
    assert [record["message_id"] for record in records] == ["m-2"]


def test_blank_lines_are_skipped_and_malformed_lines_are_reported_by_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    text = json.dumps(IDENTIFY) + "\n\n   \n{not json\n" + json.dumps(TRACK) + "\n[1, NaN]\n"
    code, records, _ = run(
        capsys, "preview", "--config", str(config), str(write_events(tmp_path, text))
    )
    assert code == 1  # some rejected (cli_support.py)
    assert [record["outcome"] for record in records] == ["ready", "rejected", "ready", "rejected"]
    bad, nan = records[1], records[3]
    assert bad["code"] == nan["code"] == "malformed_json"
    assert bad["message"].startswith("line 4: ")
    assert nan["message"].startswith("line 6: ") and "NaN" in nan["message"]
    assert (bad["message_id"], bad["requests"], bad["warnings"]) == (None, [], [])
    assert records[2]["message_id"] == "m-2"  # processing went on after the bad line


def test_rejected_and_filtered_events_are_reported_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    events = write_events(tmp_path, jsonl(NO_PERSON, NO_CONSENT, TRACK))
    code, records, _ = run(capsys, "preview", "--config", str(config), str(events))
    assert code == 1  # one rejected, the others fine
    rejected, filtered, ready = records
    assert (rejected["outcome"], rejected["code"], rejected["message_id"]) == (
        "rejected",
        "missing_identifier",
        "m-3",
    )
    assert rejected["message"].startswith("line 1: ")
    assert (filtered["outcome"], filtered["code"], filtered["requests"]) == (
        "filtered",
        "consent_denied",
        [],
    )
    assert ready["outcome"] == "ready"


def test_rejected_items_of_a_json_array_are_numbered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    events = write_events(tmp_path, json.dumps([TRACK, NO_PERSON, "not an event"]))
    _, records, _ = run(capsys, "preview", "--config", str(config), str(events))
    assert [record["outcome"] for record in records] == ["ready", "rejected", "rejected"]
    assert records[1]["message"].startswith("item 2: ")
    assert records[2]["message"].startswith("item 3: ")


def test_preview_output_never_contains_the_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    code = main(["preview", "--config", str(config), str(SEED)])
    out, err = capsys.readouterr()
    assert code == 0 and out
    for secret in (TRACK_KEY, APP_KEY):
        assert secret not in out + err


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region": "mars"}, "region"),
        ({"tracking_api_key": "   "}, "tracking_api_key"),
        ({"webhook_url": "https://example.com"}, "webhook_url"),
        ({"track_api_base_url": "http://relay.example.com"}, "track_api_base_url"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
    ],
)
def test_invalid_config_exits_2_naming_the_field_and_not_the_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], field: str
) -> None:
    config = write_config(tmp_path, **overrides)
    events = write_events(tmp_path, jsonl(TRACK))
    code = main(["preview", "--config", str(config), str(events)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert field in err and str(config) in err
    assert TRACK_KEY not in err and APP_KEY not in err


def test_config_missing_a_required_field_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"site_id": "s", "tracking_api_key": TRACK_KEY, "region": "us"}))
    code = main(["preview", "--config", str(path), str(write_events(tmp_path, jsonl(TRACK)))])
    _, err = capsys.readouterr()
    assert code == 2
    assert "api_key: required" in err
    assert TRACK_KEY not in err


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_unreadable_or_non_object_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    code = main(["preview", "--config", str(path), str(write_events(tmp_path, jsonl(TRACK)))])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert str(path) in err


def test_missing_event_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    code = main(["preview", "--config", str(config), str(tmp_path / "nope.jsonl")])
    _, err = capsys.readouterr()
    assert code == 2
    assert "nope.jsonl" in err


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "preview" in capsys.readouterr().err


def test_bad_api_choice_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["preview", "--config", str(write_config(tmp_path)), "--api", "v3"])
    assert caught.value.code == 2


def test_installed_console_script_runs_the_readme_command() -> None:
    script = Path(sys.executable).with_name("signal-cio")
    if not script.exists():
        pytest.skip("signal-cio console script is not installed next to this interpreter")
    result = subprocess.run(
        [str(script), "preview", "--config", str(EXAMPLE_CONFIG), str(SEED)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len([line for line in SEED.read_text().splitlines() if line.strip()])
    assert {record["outcome"] for record in records} == {"ready"}


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_preview_shows_objects_as_entity_items_and_a_metric_as_its_v1_request(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metric = {
        "type": "track",
        "messageId": "m-5",
        "event": "Report Delivery Event",
        "properties": {"deliveryId": "dlv-1", "metric": "opened"},
        "timestamp": "2024-01-01T12:00:00Z",
    }
    deleted = {
        "type": "track",
        "messageId": "m-6",
        "userId": "u-1",
        "event": "Relationship Deleted",
        "properties": {"objectId": "acme"},
    }
    events = write_events(tmp_path, jsonl(metric, deleted))
    code, records, _ = run(
        capsys, "preview", "--config", str(write_config(tmp_path)), "--api", api, str(events)
    )

    assert code == 0
    [[metric_request], [relationship_request]] = [record["requests"] for record in records]
    assert metric_request == {
        "method": "POST",
        "url": "https://track.customer.io/api/v1/metrics",
        "json": {"delivery_id": "dlv-1", "metric": "opened", "timestamp": NOON},
    }
    assert relationship_request["url"] == "https://track.customer.io/api/v2/entity"
    assert relationship_request["json"] == {
        "type": "person",
        "identifiers": {"id": "u-1"},
        "action": "delete_relationships",
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}],
    }
    for request in (metric_request, relationship_request):
        validate_request(request["method"], urlsplit(request["url"]).path, request["json"])
