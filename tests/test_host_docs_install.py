"""The Signal docs' own install call, verbatim (SPEC 6): a host started with its defaults
listens on 8084, takes the `default` variant (or none), and refuses a variant that
contradicts the config."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from host_support import ADMIN, HostClient

from signal_dest_cio.cli import build_parser

# As the docs print it (the token is the only thing a user swaps in).
# ruff: noqa: E501 (the docs call stays verbatim, long lines and all)
DOCS_CALL = """curl -X POST http://localhost:8084/v1/admin/integration-catalog/customer_io/install \\
  -H "Authorization: Bearer YOUR_TOKEN" -H "Content-Type: application/json" \\
  -d '{"name": "Customer.io", "variant": "default", "config": {"site_id": "abc123def456", "api_key": "xxxxxxxxxxxxxxxxxxxx", "tracking_api_key": "xxxxxxxxxxxxxxxxxxxx", "region": "us"}, "delivery_mode": "server_side"}'"""


def docs_body() -> dict[str, Any]:
    words = shlex.split(DOCS_CALL.replace("\\\n", " "))
    body: dict[str, Any] = json.loads(words[words.index("-d") + 1])
    return body


INSTALL = "/v1/admin/integration-catalog/customer_io/install"


def test_serve_listens_on_8084_by_default() -> None:
    assert build_parser().parse_args(["serve"]).port == 8084


async def test_the_docs_body_installs_with_the_default_variant(host: HostClient) -> None:
    response = await host.http.post(INSTALL, headers=ADMIN, json=docs_body())
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["variant"] == "default"
    config = created["revision"]["config"]
    assert (config["site_id"], config["region"], config["api"]) == ("abc123def456", "us", "v2")
    assert config["api_key"] == config["tracking_api_key"] == "********"
    assert "xxxxxxxxxxxxxxxxxxxx" not in response.text


async def test_no_variant_means_default(host: HostClient) -> None:
    body = {k: v for k, v in docs_body().items() if k != "variant"}
    response = await host.http.post(INSTALL, headers=ADMIN, json=body)
    assert response.status_code == 201 and response.json()["variant"] == "default"


@pytest.mark.parametrize(
    ("variant", "config", "field"),
    [("eu", {"region": "us"}, "config.region"), ("v1", {"api": "v2"}, "config.api")],
)
async def test_a_variant_that_contradicts_the_config_is_a_422_never_a_mix(
    host: HostClient, variant: str, config: dict[str, Any], field: str
) -> None:
    body = docs_body() | {"variant": variant}
    body["config"] = body["config"] | config
    response = await host.http.post(INSTALL, headers=ADMIN, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "variant_conflict"
    assert [d["field"] for d in error["details"]] == [field]


async def test_a_variant_that_agrees_with_the_config_in_any_case_installs(
    host: HostClient,
) -> None:
    body = docs_body() | {"variant": "eu"}
    body["config"] = body["config"] | {"region": "EU"}
    response = await host.http.post(INSTALL, headers=ADMIN, json=body)
    assert response.status_code == 201 and response.json()["revision"]["config"]["region"] == "eu"


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not _port_free(8084), reason="something already listens on 8084")
def test_the_docs_call_works_verbatim_against_signal_cio_serve(tmp_path: Path) -> None:
    """`signal-cio serve` with its defaults, and the docs' curl line with the token set."""
    token = "docs-admin-token"
    env = {**os.environ, "SIGNAL_ADMIN_TOKEN": token, "SIGNAL_SIGNING_SECRET": "s"}
    server = subprocess.Popen(
        [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--db", str(tmp_path / "h.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            if not _port_free(8084):
                break
            time.sleep(0.05)
        words = shlex.split(DOCS_CALL.replace("\\\n", " ").replace("YOUR_TOKEN", token))
        headers = dict(
            word.split(": ", 1)
            for word, flag in zip(words[1:], words, strict=False)
            if flag == "-H"
        )
        body = words[words.index("-d") + 1]
        response = httpx.post(words[3], headers=headers, content=body, timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["revision"]["number"] == 1
