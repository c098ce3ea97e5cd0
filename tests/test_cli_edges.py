"""The command line's edges: exit statuses that say how the events went, FILE:LINE for a
bad line, an empty --user-id refused, --help that shows defaults, --version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from signal_dest_cio import cli
from signal_dest_cio.cli_support import EXIT_ALL_FAILED, EXIT_OK, EXIT_SOME_FAILED, version

CONFIG = {
    "site_id": "edges-site",
    "tracking_api_key": "trk-EDGES-SECRET",
    "api_key": "app-EDGES-SECRET",
    "region": "us",
    "track_api_base_url": "http://127.0.0.1:9",
    "app_api_base_url": "http://127.0.0.1:9",
}
GOOD = {"type": "track", "messageId": "m-1", "userId": "u1", "event": "e"}
NOBODY = {"type": "identify", "messageId": "m-2", "traits": {"plan": "pro"}}
DENIED = {
    **GOOD,
    "messageId": "m-3",
    "context": {"consent": {"categoryPreferences": {"marketing": False}}},
}


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG))
    return str(path)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Every request test-event makes, answered 200 like the emulator."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.startswith("/_emulator/"):
            return httpx.Response(404, json={})
        return httpx.Response(200, json={})

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", lambda: httpx.MockTransport(handler))
    return seen


def events_file(tmp_path: Path, *lines: Any) -> str:
    path = tmp_path / "events.jsonl"
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n")
    return str(path)


@pytest.mark.parametrize(
    ("events", "code"),
    [
        ([GOOD], EXIT_OK),
        ([GOOD, DENIED], EXIT_OK),  # filtered on purpose is not a failure
        ([GOOD, NOBODY], EXIT_SOME_FAILED),
        ([NOBODY, "{not json"], EXIT_ALL_FAILED),
    ],
)
def test_preview_exit_status_says_how_the_events_went(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], events: list[Any], code: int
) -> None:
    assert cli.main(["preview", "--config", config, events_file(tmp_path, *events)]) == code
    assert len(capsys.readouterr().out.splitlines()) == len(events)  # every event reported


def test_test_event_names_file_and_line_and_exits_by_outcome(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: list[httpx.Request]
) -> None:
    path = events_file(tmp_path, GOOD, "{not json", NOBODY)
    assert cli.main(["test-event", "--config", config, "--file", path]) == EXIT_SOME_FAILED
    good, bad, nobody = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert good["outcome"]["kind"] == "delivered"
    assert bad["outcome"]["code"] == "malformed_json"
    assert bad["outcome"]["message"].startswith(f"{path}:2: not JSON: ")
    assert nobody["outcome"]["message"].startswith(f"{path}:3: ")
    everything_bad = events_file(tmp_path, "[1,", NOBODY)
    assert cli.main(["test-event", "--config", config, "--file", everything_bad]) == 3
    assert cli.main(["test-event", "--config", config]) == EXIT_OK  # the sample


@pytest.mark.parametrize("user_id", ["", "   "])
def test_an_empty_user_id_is_refused_before_anything_is_sent(
    config: str, capsys: pytest.CaptureFixture[str], sent: list[httpx.Request], user_id: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["test-event", "--config", config, "--user-id", user_id])
    assert exited.value.code == 2
    assert "--user-id: must not be empty" in capsys.readouterr().err
    assert sent == []  # never a person "@example.com"


def test_help_shows_defaults_and_version_is_there(capsys: pytest.CaptureFixture[str]) -> None:
    for command, default in [
        (["serve"], "(default: 8084)"),
        (["serve"], "(default: signal-host.db)"),
        (["test-event"], "(default: test-user-1)"),
        (["emulator"], "(default: 8010)"),
    ]:
        with pytest.raises(SystemExit):
            cli.main([*command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
        assert default in shown, (command, default)
        assert "(default: None)" not in shown and "(default: False)" not in shown
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"signal-cio {version()}" != "signal-cio unknown"
