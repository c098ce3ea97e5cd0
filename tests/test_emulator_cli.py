"""The demo workspaces, `--workspaces` files, and `signal-cio emulator`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from signal_dest_cio.cli import main
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.emulator import Workspace, default_state, load_workspaces

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("name", "port"), [("config.json", 8010), ("config.eu.json", 8011)])
def test_example_configs_name_a_default_workspace_on_its_default_port(name: str, port: int) -> None:
    config = CustomerIoConfig.model_validate_json((ROOT / "examples" / name).read_text())
    [workspace] = [w for w in default_state().workspaces if w.site_id == config.site_id]
    assert workspace.track_api_key == config.tracking_api_key.get_secret_value()
    assert workspace.app_api_key == config.api_key.get_secret_value()
    assert workspace.region == config.region.value
    assert config.track_base_url == config.app_base_url == f"http://127.0.0.1:{port}"


def test_default_state_has_a_us_and_an_eu_workspace() -> None:
    assert sorted(w.region for w in default_state().workspaces) == ["eu", "us"]


def test_workspaces_file_may_be_a_destination_config_a_list_or_an_object(tmp_path: Path) -> None:
    single = tmp_path / "one.json"
    single.write_text((ROOT / "examples" / "config.json").read_text())
    [from_config] = load_workspaces(single)
    assert from_config.site_id == "demo-site" and from_config.region == "us"
    listed = tmp_path / "list.json"
    entry = {"site_id": "s", "track_api_key": "t", "app_api_key": "a", "region": "EU"}
    listed.write_text(json.dumps({"workspaces": [entry]}))
    assert load_workspaces(listed) == [Workspace("s", "t", "a", "eu")]


@pytest.mark.parametrize(
    "content",
    ["[]", "{}", '[{"site_id": "s", "track_api_key": "t", "app_api_key": "a", "region": "ap"}]'],
)
def test_unusable_workspaces_file_exits_2(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "w.json"
    path.write_text(content)
    assert main(["emulator", "--workspaces", str(path)]) == 2
    assert "cannot use --workspaces" in capsys.readouterr().err


def test_emulator_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--host", "0.0.0.0", "--us-port", "0", "--eu-port", "0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_emulator_command_prints_urls_and_workspaces_but_no_keys_and_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-m", "signal_dest_cio.cli", "emulator"]
    process = subprocess.Popen(
        [*command, "--us-port", "0", "--eu-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=15)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "http://127.0.0.1:" in output and "demo-site-eu (EU)" in output
    assert "examples/config.json" in output  # where the keys are
    for workspace in default_state().workspaces:
        assert workspace.track_api_key not in output and workspace.app_api_key not in output


def test_the_cli_does_not_import_the_emulator_until_asked() -> None:
    code = "import sys, signal_dest_cio.cli; print('fastapi' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"
