"""Destinations come from the `signal.destinations` entry points, through pluggy.

The host imports no destination by name: whatever plugins are installed and
answer the `signal_destinations` hook make up the catalog.
"""

from __future__ import annotations

from typing import Any

import pluggy

from .. import hookspecs


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def discover_destinations(pm: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """Destination classes by catalog key, from the installed entry points.

    A plugin manager may be given (with plugins registered by hand, in tests);
    entry points are loaded into it either way.
    """
    pm = pm or plugin_manager()
    pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    found: dict[str, Any] = {}
    for classes in pm.hook.signal_destinations():
        for cls in classes:
            found.setdefault(str(cls.key), cls)
    return found


def secret_fields(destination: Any) -> frozenset[str]:
    """Config keys the destination's JSON Schema marks as secret (write-only)."""
    schema: dict[str, Any] = destination.config_schema()
    properties: dict[str, Any] = schema.get("properties", {})
    return frozenset(
        key
        for key, spec in properties.items()
        if isinstance(spec, dict)
        and (spec.get("x-secret") or spec.get("writeOnly") or spec.get("format") == "password")
    )
