"""The demo workspaces, and workspaces read from a JSON file.

`default_state()` holds the workspace `examples/config.json` names (US) and an
EU one (`examples/config.eu.json`); their keys are made-up placeholders. Both have
the transactional templates 1 `welcome` and 7 `order_receipt`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .records import RegionName, Template, Workspace
from .state import EmulatorState

DEMO_TEMPLATES = (
    Template(1, "welcome", "Welcome, {{customer.first_name}}"),
    Template(7, "order_receipt", "Your receipt for order {{message_data.order_id}}"),
)
DEMO_US = Workspace(
    site_id="demo-site",
    track_api_key="example-track-key-not-a-real-secret",
    app_api_key="example-app-key-not-a-real-secret",
    region="us",
    cdp_api_key="example-cdp-key-not-a-real-secret",
    transactional_templates=DEMO_TEMPLATES,
)
DEMO_EU = Workspace(
    site_id="demo-site-eu",
    track_api_key="example-eu-track-key-not-a-real-secret",
    app_api_key="example-eu-app-key-not-a-real-secret",
    region="eu",
    cdp_api_key="example-eu-cdp-key-not-a-real-secret",
    transactional_templates=DEMO_TEMPLATES,
)


def default_state() -> EmulatorState:
    return EmulatorState([DEMO_US, DEMO_EU])


def workspace_from(entry: Any, where: str) -> Workspace:
    """One workspace from `{site_id, track_api_key, app_api_key, region[, cdp_api_key,
    transactional_templates: [{"id": 7, "name": "order_receipt", "subject": "..."}]]}`.

    A destination config works too (`tracking_api_key`, `api_key`), so
    `--workspaces examples/config.json` serves exactly that workspace.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: a workspace must be a JSON object")
    values = {
        "site_id": entry.get("site_id"),
        "track_api_key": entry.get("track_api_key", entry.get("tracking_api_key")),
        "app_api_key": entry.get("app_api_key", entry.get("api_key")),
        "region": str(entry.get("region", "")).strip().lower(),
    }
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: {key} is required")
    if values["region"] not in ("us", "eu"):
        raise ValueError(f"{where}: region must be us or eu")
    region: RegionName = "eu" if values["region"] == "eu" else "us"
    cdp = entry.get("cdp_api_key")
    return Workspace(
        str(values["site_id"]),
        str(values["track_api_key"]),
        str(values["app_api_key"]),
        region,
        cdp if isinstance(cdp, str) and cdp.strip() else None,
        templates_from(entry.get("transactional_templates", []), where),
    )


def templates_from(entries: Any, where: str) -> tuple[Template, ...]:
    """Templates from `[{"id": 7, "name": "order_receipt", "subject": "..."}]`: a positive
    integer id and a trigger name each, both unique (names in any case)."""
    if not isinstance(entries, list):
        raise ValueError(f"{where}: transactional_templates must be a list")
    templates: list[Template] = []
    for index, entry in enumerate(entries):
        at = f"{where}: transactional_templates[{index}]"
        found = entry if isinstance(entry, dict) else {}
        number, name, subject = found.get("id"), found.get("name"), found.get("subject", "")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"{at}: id must be a positive integer")
        if not isinstance(name, str) or not name.strip() or name.strip().isdigit():
            raise ValueError(f"{at}: name must be a trigger name (text, not digits)")
        if not isinstance(subject, str):
            raise ValueError(f"{at}: subject must be a string")
        if any(t.id == number or t.name.casefold() == name.casefold() for t in templates):
            raise ValueError(f"{at}: id {number} or name {name!r} is used twice")
        templates.append(Template(number, name.strip(), subject))
    return tuple(templates)


def load_workspaces(path: str | Path) -> list[Workspace]:
    """Workspaces from a file: one object, a list, or `{"workspaces": [...]}`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("workspaces"), list):
        data = data["workspaces"]
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise ValueError(f"{path}: no workspaces")
    return [workspace_from(entry, f"{path} [{index}]") for index, entry in enumerate(entries)]
