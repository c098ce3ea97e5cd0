"""`signal-cio demo`: the shipped fixture events through the destination into the local emulator.

No network and no arguments: start the emulator on loopback, make the first
request answer 429 (to show a retry honouring Retry-After), send every fixture
event, and print what happened and the people that result. Exit 0 only when
every event ended as the fixtures expect.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx

from .config import CustomerIoConfig
from .harness import TestEventResult, TestEventSession

MAX_ATTEMPTS = 4
LONGEST_WAIT_SECONDS = 2.0  # a demo honours Retry-After, but never sits for minutes
PROGRESS_ABOVE = 5


@dataclass(slots=True)
class DemoRow:
    source: str
    summary: str
    expected: str
    result: TestEventResult
    attempts: int

    @property
    def as_expected(self) -> bool:
        return self.result.outcome.kind == self.expected


def load_fixtures() -> list[tuple[str, dict[str, Any], str]]:
    """(file, event, expected outcome kind) for every shipped fixture event, in order."""
    folder = resources.files("signal_dest_cio").joinpath("demo_events")
    expected: dict[str, str] = json.loads(folder.joinpath("expected.json").read_text())
    fixtures = []
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name[:2].isdigit()), key=lambda e: e.name
    )
    for entry in files:
        for line in entry.read_text(encoding="utf-8").splitlines():
            if line.strip():
                event = json.loads(line)
                kind = expected.get(str(event.get("messageId")), "delivered")
                fixtures.append((entry.name, event, kind))
    return fixtures


def summarize(event: dict[str, Any]) -> str:
    kind = str(event.get("type"))
    name = event.get("event") or event.get("name") or event.get("groupId") or ""
    who = event.get("userId") or event.get("anonymousId") or "(nobody)"
    return f"{kind} {name} · {who}".replace("  ", " ")


async def send_with_retries(session: TestEventSession, event: dict[str, Any]) -> tuple[Any, int]:
    """Deliver, and on `retry` wait as told (bounded) and deliver again, like a host would."""
    exchanges = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = await session.send(event)
        exchanges.extend(result.exchanges)
        if result.outcome.kind != "retry" or attempt == MAX_ATTEMPTS:
            result.exchanges = exchanges
            return result, attempt
        await asyncio.sleep(min(result.outcome.retry_after or 0.5, LONGEST_WAIT_SECONDS))
    raise AssertionError("unreachable")


async def run_fixtures(config: CustomerIoConfig, on_event: Any = None) -> list[DemoRow]:
    rows = []
    async with TestEventSession(config) as session:
        for source, event, expected in load_fixtures():
            result, attempts = await send_with_retries(session, event)
            rows.append(DemoRow(source, summarize(event), expected, result, attempts))
            if on_event is not None:
                on_event()
    return rows


def fetch_people(base_url: str, site_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/_emulator/workspaces/{site_id}/people", timeout=10)
    response.raise_for_status()
    data = response.json()
    people = data.get("people", data) if isinstance(data, dict) else data
    return people if isinstance(people, list) else []


def inject_rate_limit(base_url: str, api: str = "v2") -> None:
    """The emulator's next request (of the api mode's) answers 429 with Retry-After: 1."""
    fault: dict[str, Any] = {"kind": "status", "status": 429, "count": 1, "retry_after": "1"}
    if api == "pipelines":
        fault["path_prefix"] = "/v1/"
    httpx.post(f"{base_url}/_emulator/faults", json=fault, timeout=10).raise_for_status()


def _requests_cell(result: TestEventResult) -> str:
    lines = []
    for exchange in result.exchanges:
        path = httpx.URL(exchange.url).path
        status = "no answer" if exchange.status is None else str(exchange.status)
        lines.append(f"{exchange.method} {path} → {status}")
    return "\n".join(lines) or "(nothing sent)"


def _outcome_cell(row: DemoRow) -> str:
    outcome = row.result.outcome
    text = f"{outcome.kind} ({outcome.code})"
    if row.attempts > 1:
        text += f"\nafter {row.attempts} attempts"
    colour = "green" if row.as_expected else "red"
    return f"[{colour}]{text}[/{colour}]"


TABLE_WIDTH = 110  # below it the events are listed, one block each, instead of a table


def _mark(row: DemoRow) -> str:
    return "✓" if row.as_expected else f"✗ wanted {row.expected}"


def _print_event_list(console: Any, rows: list[DemoRow]) -> None:
    """The events table as blocks: `#  event  outcome  ✓`, then its requests indented."""
    from rich.markup import escape

    console.rule("Events → requests → status → outcome")
    for number, row in enumerate(rows, 1):
        outcome = _outcome_cell(row).replace("\n", ", ")
        console.print(f"{number:>2}  {escape(row.summary)}  {outcome}  {_mark(row)}")
        for line in _requests_cell(row.result).split("\n"):
            console.print(f"      {escape(line)}", overflow="fold")


def print_report(console: Any, rows: list[DemoRow], people: list[dict[str, Any]]) -> None:
    """What happened, fitted to the console: a table when there is room, else one block
    per event (a request line and an outcome code never break in either)."""
    from rich import box
    from rich.table import Table

    if console.width < TABLE_WIDTH:
        _print_event_list(console, rows)
    else:
        events = Table(title="Events → requests → status → outcome", show_lines=True)
        for header in ("#", "event", "requests → status", "outcome", "expected"):
            events.add_column(header, overflow="fold")
        for number, row in enumerate(rows, 1):
            events.add_row(
                str(number), row.summary, _requests_cell(row.result), _outcome_cell(row),
                _mark(row),
            )  # fmt: skip
        console.print(events)

    table = Table(title="People in the emulated workspace", box=box.SQUARE)  # fits 80
    table.add_column("identifiers", ratio=1, overflow="fold")
    table.add_column("attributes", ratio=1, overflow="fold")
    table.add_column("activity", justify="right", no_wrap=True)
    table.add_column("devices", justify="right", no_wrap=True)
    for person in people:
        attributes = person.get("attributes") or {}
        shown = ", ".join(f"{k}={attributes[k]}" for k in list(attributes)[:6])
        identifiers = person.get("identifiers") or {}
        table.add_row(
            "\n".join(f"{k}={v}" for k, v in identifiers.items()),
            shown,
            str(len(person.get("activity") or [])),
            str(len(person.get("devices") or [])),
        )
    console.print(table)


def demo_config(workspace: Any, base_url: str, api: str) -> CustomerIoConfig:
    """The destination config for the emulator's demo workspace, in any api mode."""
    if api == "pipelines":
        return CustomerIoConfig.model_validate(
            {
                "api": "pipelines",
                "cdp_api_key": workspace.cdp_api_key,
                "site_id": workspace.site_id,  # not needed to send; names the workspace shown
                "api_key": workspace.app_api_key,
                "region": "us",
                "pipelines_api_base_url": base_url + "/v1",
                "app_api_base_url": base_url,
            }
        )
    return CustomerIoConfig.model_validate(
        {
            "site_id": workspace.site_id,
            "tracking_api_key": workspace.track_api_key,
            "api_key": workspace.app_api_key,
            "region": "us",
            "api": api,
            "track_api_base_url": base_url,
            "app_api_base_url": base_url,
        }
    )


def run_demo(api: str = "v2") -> int:
    """Start the emulator, send the fixtures, print the report; 0 when all went as expected."""
    from rich.console import Console
    from rich.progress import Progress

    from .emulator import default_state, serve_in_thread

    console = Console()  # the terminal's width; the tables fit 80 columns
    state = default_state()
    workspace = next(w for w in state.workspaces if w.region == "us")
    with serve_in_thread(state, us_port=0, eu_port=0) as urls:
        config = demo_config(workspace, urls.us, api)
        console.print(
            f"Customer.io emulator on {urls.us} (US) and {urls.eu} (EU); site {config.site_id}, "
            f"api {api}"
        )
        inject_rate_limit(urls.us, api)
        total = len(load_fixtures())
        if total > PROGRESS_ABOVE:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("sending fixture events", total=total)
                rows = asyncio.run(run_fixtures(config, lambda: progress.advance(task)))
        else:
            rows = asyncio.run(run_fixtures(config))
        people = fetch_people(urls.us, workspace.site_id)
    print_report(console, rows, people)
    failed = [row for row in rows if not row.as_expected]
    if failed:
        console.print(f"[red]{len(failed)} of {len(rows)} events did not end as expected[/red]")
        return 1
    console.print(f"[green]all {len(rows)} events ended as expected[/green]")
    return 0
