"""The host contract: what a Signal destination plugin provides (pluggy project `signal`)."""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "signal"
ENTRY_POINT_GROUP = "signal.destinations"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def signal_destinations() -> list[Any]:  # type: ignore[empty-body]
    """Return the destination classes this plugin provides.

    Each class has `key`, `config_model`, `catalog_entry()`, `config_schema()`,
    and instances (built from a config) have `check()`, `preview(event)` and
    async `deliver(events) -> outcomes`, one per event in input order. A host hands
    each event decoded (a dict), or as its JSON text to a class with
    `reads_json_text = True`; `lane_keys(event)`, where present, gets the same.
    """
