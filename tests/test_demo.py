"""`signal-cio demo`: fixtures through the destination into the emulator, judged by expectation."""

from __future__ import annotations

from typing import Any

import pytest

from signal_dest_cio import cli, demo


@pytest.mark.parametrize("api", [None, "v1", "pipelines"])
def test_the_demo_sends_every_fixture_and_exits_0_when_all_end_as_expected(
    capsys: pytest.CaptureFixture[str], api: str | None
) -> None:
    code = cli.main(["demo", *(["--api", api] if api else [])])

    out = capsys.readouterr().out
    fixtures = demo.load_fixtures()
    assert code == 0
    assert f"all {len(fixtures)} events ended as expected" in out
    assert "429" in out  # the injected rate limit was met and retried
    assert "u_1001" in out and "grace@example.com" in out  # the people that resulted
    if api == "pipelines":
        assert "POST /v1/batch" in out and "/api/v" not in out  # the Data Pipelines API only


def test_the_fixtures_cover_the_seed_use_cases() -> None:
    events = [event for _, event, _ in demo.load_fixtures()]
    names = {event.get("event") for event in events}
    types = {event["type"] for event in events}

    assert {"user.signup", "feature.used", "trial.expired", "Application Installed"} <= names
    assert {"identify", "track", "page", "alias"} <= types
    anonymous = {e["anonymousId"] for e in events if e["type"] == "page" and "userId" not in e}
    assert any(e["type"] == "identify" and e.get("anonymousId") in anonymous for e in events)


def test_the_demo_exits_1_when_an_event_does_not_end_as_expected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = demo.load_fixtures

    def wrong_expectation() -> list[tuple[str, dict[str, Any], str]]:
        (source, event, _), *rest = real()
        return [(source, event, "rejected"), *rest]

    monkeypatch.setattr(demo, "load_fixtures", wrong_expectation)

    assert demo.run_demo() == 1
    assert "did not end as expected" in capsys.readouterr().out


@pytest.mark.parametrize("columns", [80, 140])
def test_the_demo_fits_the_terminal_and_keeps_each_request_line_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], columns: int
) -> None:
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", str(columns))
    assert cli.main(["demo", "--api", "v1"]) == 0

    out = capsys.readouterr().out
    assert max(cell_len(line) for line in out.splitlines()) <= columns
    # Requests the events made, and the code of the rejected one, each on one line.
    assert "PUT /api/v1/customers/u_1001 → 429" in out
    assert "POST /api/v1/customers/u_1002/events → 200" in out
    assert "rejected (missing_identifier)" in out
    assert ("┏" in out) == (columns >= demo.TABLE_WIDTH)  # a table only where it fits
