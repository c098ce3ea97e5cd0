"""What `signal-cio admin` prints without `--json`: rich tables of the host's answers.

Everything shown comes from the admin API, which masks secrets (`********`); nothing
here adds a value the API did not send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

View = Callable[[Console, Any], None]
ID_WIDTH = 20  # int_ and 16 hex digits: never cut


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _pause(integration: dict[str, Any]) -> str:
    paused = integration.get("paused")
    if not paused:
        return ""
    return f"{paused.get('code', '')}: {paused.get('message', '')}".strip(": ")


def catalog(console: Console, entries: list[dict[str, Any]]) -> None:
    table = Table(title="Catalog", title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("name")
    table.add_column("status")
    table.add_column("variants", overflow="fold")
    for entry in entries:
        variants = ", ".join(str(v.get("key")) for v in entry.get("variants", []))
        table.add_row(entry.get("key"), entry.get("name"), _text(entry.get("status")), variants)
    console.print(table)


def integrations(console: Console, found: list[dict[str, Any]]) -> None:
    if not found:
        console.print("no integrations installed")
        return
    table = Table(title="Integrations (queue: pending/delivered/dead)", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=ID_WIDTH)
    table.add_column("name", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("rev", justify="right", no_wrap=True)
    table.add_column("queue", justify="right", no_wrap=True)
    table.add_column("pause reason", overflow="fold")
    for item in found:
        counts = item.get("deliveries") or {}
        queue = "/".join(str(counts.get(k, 0)) for k in ("pending", "delivered", "dead_lettered"))
        table.add_row(
            item["id"],
            item.get("name"),
            item.get("status"),
            _text((item.get("revision") or {}).get("number")),
            queue,
            _pause(item),
        )
    console.print(table)


def integration(console: Console, item: dict[str, Any]) -> None:
    revision = item.get("revision") or {}
    counts = item.get("deliveries") or {}
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    rows = [
        ("id", item.get("id")),
        ("name", item.get("name")),
        ("destination", item.get("destination")),
        ("variant", item.get("variant")),
        ("status", item.get("status")),
        ("pause reason", _pause(item) or None),
        ("revision", f"{revision.get('number')} (created {revision.get('created_at')})"),
        ("deliveries", ", ".join(f"{k} {v}" for k, v in counts.items())),
        ("created", item.get("created_at")),
        ("updated", item.get("updated_at")),
        ("deleted", item.get("deleted_at")),
        ("dead-lettered now", item.get("dead_lettered")),
    ]
    for label, value in rows:
        if value is not None:
            facts.add_row(label, _text(value))
    console.print(facts)
    config = revision.get("config") or {}
    if config:
        table = Table(title="Config (secrets masked)", title_justify="left")
        table.add_column("setting", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key in sorted(config):
            table.add_row(key, _text(config[key]))
        console.print(table)


def deliveries(console: Console, page: dict[str, Any]) -> None:
    found = page.get("data") or []
    if not found:
        console.print("no deliveries")
    else:
        table = Table(title="Deliveries (newest first)", title_justify="left")
        table.add_column("id", justify="right", no_wrap=True)
        table.add_column("message", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("tries", justify="right", no_wrap=True)
        table.add_column("http", justify="right", no_wrap=True)
        table.add_column("outcome or reason", overflow="fold")
        for delivery in found:
            outcome = delivery.get("outcome") or {}
            reason = (delivery.get("reason") or {}).get("code")
            said = "/".join(_text(outcome.get(k)) for k in ("kind", "code") if outcome.get(k))
            table.add_row(
                _text(delivery.get("id")),
                _text(delivery.get("message_id")),
                _text(delivery.get("status")) + (" (test)" if delivery.get("test") else ""),
                _text(delivery.get("attempts")),
                _text(delivery.get("response_status")),
                said if not reason or said.endswith(f"/{reason}") else f"{reason} ({said})",
            )
        console.print(table)
    counts = page.get("counts")
    if counts:
        console.print("counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if page.get("next_cursor"):
        console.print("more: --all lists every delivery")


def replay(console: Console, answer: dict[str, Any]) -> None:
    ids = ", ".join(str(i) for i in answer.get("delivery_ids", []))
    console.print(f"requeued {answer.get('requeued', 0)}" + (f": {ids}" if ids else ""))
    unknown = answer.get("unknown") or {}
    if unknown.get("delivery_ids"):
        console.print("unknown delivery ids: " + ", ".join(map(str, unknown["delivery_ids"])))
    if unknown.get("message_ids"):
        console.print("unknown message ids: " + ", ".join(map(str, unknown["message_ids"])))
    for item in answer.get("not_replayed") or []:
        console.print(
            f"not replayed: {item.get('delivery_id')} ({item.get('message_id')}) "
            f"is {item.get('status')}, not dead-lettered"
        )


def test_event(console: Console, delivery: dict[str, Any]) -> None:
    outcome = delivery.get("outcome") or {}
    console.print(
        f"test event {delivery.get('message_id')}: {outcome.get('kind')}"
        + (f" ({outcome.get('code')})" if outcome.get("code") else "")
        + (f": {outcome.get('message')}" if outcome.get("message") else "")
    )
    requests = delivery.get("requests") or []
    if requests:
        table = Table(title="Requests sent", title_justify="left")
        table.add_column("method", no_wrap=True)
        table.add_column("url", overflow="fold")
        table.add_column("status", justify="right")
        for request in requests:
            status = _text(request.get("status"))
            table.add_row(_text(request.get("method")), _text(request.get("url")), status)
        console.print(table)


def switched(console: Console, item: dict[str, Any]) -> None:
    line = f"{item.get('id')} is {item.get('status')}"
    reason = _pause(item)
    console.print(line + (f" ({reason})" if reason else ""))


def deleted(console: Console, item: dict[str, Any]) -> None:
    pending = item.get("dead_lettered", 0)
    console.print(
        f"deleted {item.get('id')} ({item.get('name')}); {pending} pending "
        f"{'delivery' if pending == 1 else 'deliveries'} dead-lettered as "
        "integration_deleted (records kept)"
    )
