"""The plugin contract (SPEC section 5): a host finds destinations through entry points."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

import signal_dest_cio.plugin
from signal_dest_cio import hookspecs
from signal_dest_cio.destination import CustomerIoDestination

FAKE_MODULE = "fake_signal_destination_plugin"


def host_plugin_manager() -> pluggy.PluginManager:
    """What a Signal host does before loading destinations."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def destinations(pm: pluggy.PluginManager) -> list[Any]:
    return [cls for found in pm.hook.signal_destinations() for cls in found]


def test_installed_package_declares_the_customer_io_entry_point() -> None:
    [entry_point] = [
        ep
        for ep in importlib.metadata.entry_points(group="signal.destinations")
        if ep.name == "customer_io"
    ]
    assert entry_point.value == "signal_dest_cio.plugin"
    assert entry_point.dist is not None
    assert entry_point.dist.metadata["Name"] == "signal-dest-cio"


def test_host_finds_the_installed_destination_through_its_entry_point() -> None:
    pm = host_plugin_manager()
    loaded = pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    assert loaded >= 1
    assert pm.get_plugin("customer_io") is signal_dest_cio.plugin
    assert CustomerIoDestination in destinations(pm)
    [dist] = [
        dist for plugin, dist in pm.list_plugin_distinfo() if plugin is signal_dest_cio.plugin
    ]
    assert dist.project_name == "signal-dest-cio"


def test_loading_entry_points_by_name_finds_only_customer_io() -> None:
    pm = host_plugin_manager()
    assert pm.load_setuptools_entrypoints("signal.destinations", name="customer_io") == 1
    assert destinations(pm) == [CustomerIoDestination]
    # Already registered: a second load adds nothing.
    assert pm.load_setuptools_entrypoints("signal.destinations", name="customer_io") == 0


def test_found_destination_exposes_the_host_contract() -> None:
    pm = host_plugin_manager()
    pm.load_setuptools_entrypoints("signal.destinations", name="customer_io")
    [destination] = destinations(pm)
    assert destination.key == "customer_io"
    assert destination.catalog_entry()["key"] == "customer_io"
    assert destination.config_schema()["properties"]["tracking_api_key"]["x-secret"] is True
    instance = destination(
        {
            "site_id": "s",
            "tracking_api_key": "plugin-test-track-key",
            "api_key": "plugin-test-app-key",
            "region": "EU",
        }
    )
    assert instance.config.region.value == "eu"
    for method in ("check", "preview", "deliver"):
        assert callable(getattr(instance, method))


def test_plugin_module_hooks_are_valid_against_the_specs() -> None:
    pm = host_plugin_manager()
    pm.register(signal_dest_cio.plugin, name="customer_io")
    pm.check_pending()  # raises if a hookimpl has no spec
    assert destinations(pm) == [CustomerIoDestination]


def test_a_hookimpl_with_a_misspelled_hook_is_caught_by_the_host() -> None:
    pm = host_plugin_manager()
    plugin = types.ModuleType("bad_plugin")

    @hookspecs.hookimpl
    def signal_destination() -> list[Any]:  # missing the trailing "s"
        return []

    plugin.signal_destination = signal_destination  # type: ignore[attr-defined]
    pm.register(plugin)
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


# -- the pluggy way: a fake distribution whose entry point names a fake plugin --------


class FakeDestination:
    key = "fake_destination"


class FakeDistribution(importlib.metadata.Distribution):
    """A distribution that exists only in memory, with its own entry_points.txt."""

    def __init__(self, files: dict[str, str]) -> None:
        self._files = files

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: str | Any) -> Path:
        return Path("/nonexistent") / str(path)


@pytest.fixture
def fake_plugin_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType(FAKE_MODULE)

    @hookspecs.hookimpl
    def signal_destinations() -> list[Any]:
        return [FakeDestination]

    module.signal_destinations = signal_destinations  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    return module


@pytest.fixture
def fake_distribution(monkeypatch: pytest.MonkeyPatch) -> FakeDistribution:
    dist = FakeDistribution(
        {
            "METADATA": "Metadata-Version: 2.1\nName: signal-dest-fake\nVersion: 1.2.3\n",
            "entry_points.txt": (
                f"[signal.destinations]\nfake_destination = {FAKE_MODULE}\n\n"
                f"[other.group]\nnot_a_destination = {FAKE_MODULE}\n"
            ),
        }
    )

    def distributions(**kwargs: Any) -> Iterator[importlib.metadata.Distribution]:
        yield dist

    monkeypatch.setattr(importlib.metadata, "distributions", distributions)
    return dist


def test_entry_point_of_a_fake_distribution_is_loaded_and_registered(
    fake_plugin_module: types.ModuleType, fake_distribution: FakeDistribution
) -> None:
    pm = host_plugin_manager()
    assert pm.load_setuptools_entrypoints("signal.destinations") == 1
    assert pm.get_plugin("fake_destination") is fake_plugin_module
    assert pm.get_plugin("not_a_destination") is None  # other groups are left alone
    assert pm.get_plugin("customer_io") is None  # only the fake distribution is visible
    assert destinations(pm) == [FakeDestination]
    [(plugin, dist)] = pm.list_plugin_distinfo()
    assert plugin is fake_plugin_module
    assert (dist.project_name, dist.version) == ("signal-dest-fake", "1.2.3")
    # Loading again finds it already registered.
    assert pm.load_setuptools_entrypoints("signal.destinations") == 0


def test_blocked_entry_point_of_a_fake_distribution_is_skipped(
    fake_plugin_module: types.ModuleType, fake_distribution: FakeDistribution
) -> None:
    pm = host_plugin_manager()
    pm.set_blocked("fake_destination")
    assert pm.load_setuptools_entrypoints("signal.destinations") == 0
    assert destinations(pm) == []
