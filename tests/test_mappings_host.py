"""Mappings through the host (SPEC 12): installed and revised as config (the optimistic
revision check), refused with a 422 naming rule, field and problem, and each delivery
telling which rule sent it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_support import app_for, new_state
from host_support import ADMIN, HostClient, running_host

from signal_dest_cio.emulator import EmulatorState

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str, **options: Any) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((EXAMPLES / f"mappings.{name}.json").read_text())
    return config | {"max_requests_per_second": 10_000, **options}


@pytest.fixture
def state() -> EmulatorState:
    return new_state()


@pytest.fixture
async def host(state: EmulatorState) -> AsyncIterator[HostClient]:
    async with running_host(lambda: httpx.ASGITransport(app=app_for(state))) as running:
        yield running


async def install(host: HostClient, config: dict[str, Any]) -> httpx.Response:
    return await host.http.post(
        "/v1/admin/integration-catalog/customer_io/install?verify=false",
        headers=ADMIN,
        json={"name": "Customer.io", "config": config},
    )


SIGNUP = {
    "type": "track",
    "event": "user.signup",
    "messageId": "signup-1",
    "properties": {"email": "ada@example.com", "password": "hunter2", "plan": "pro"},
}


async def test_each_delivery_names_the_rule_that_sent_it(host: HostClient) -> None:
    installed = (await install(host, example("signup"))).json()
    plain = {"type": "identify", "userId": "u-2", "messageId": "plain-1", "traits": {"a": 1}}
    assert (await host.send([SIGNUP, plain])).status_code in (200, 202)
    await host.worker.drain()
    by_message = {d["message_id"]: d for d in await host.deliveries(installed["id"])}
    signup, other = by_message["signup-1"], by_message["plain-1"]
    assert signup["status"] == "delivered" and signup["outcome"]["rules"] == ["signup"]
    assert other["status"] == "delivered" and "rules" not in other["outcome"]  # built-in
    assert (signup["rule"], other["rule"]) == (["signup"], None)  # what /live shows
    shown = json.dumps(signup["requests"])
    assert "identify" in shown and "hunter2" not in shown


async def test_an_invalid_rule_is_a_422_naming_rule_field_and_problem(host: HostClient) -> None:
    config = example("signup")
    config["mappings"]["rules"][0]["actions"][0]["fields"]["id"] = {"@coalesce": "userId"}
    response = await install(host, config)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    [detail] = error["details"]
    assert detail["field"] == "config.mappings.rules.0.actions.0.fields.id.@coalesce"
    assert "rule 'signup'" in detail["message"] and "non-empty list" in detail["message"]
    assert "example-track-key" not in response.text


async def test_mappings_change_in_revisions_under_the_optimistic_check(host: HostClient) -> None:
    installed = (await install(host, example("signup"))).json()
    url = f"/v1/admin/integrations/{installed['id']}/revisions"
    deny = example("deny-debug")["mappings"]
    revised = await host.http.post(url, headers=ADMIN | {"If-Match": '"1"'},
                                   json={"config": {"mappings": deny}})  # fmt: skip
    assert revised.status_code == 201, revised.text
    assert revised.json()["revision"]["config"]["mappings"] == deny
    stale = await host.http.post(url, headers=ADMIN | {"If-Match": '"1"'},
                                 json={"config": {"mappings": None}})  # fmt: skip
    assert stale.status_code == 409
    bad = {"rules": [{"id": "x", "when": 'event = "a" or', "actions": [{"action": "drop"}]}]}
    refused = await host.http.post(url, headers=ADMIN, json={"config": {"mappings": bad}})
    assert refused.status_code == 422
    assert "rule 'x'" in refused.json()["error"]["details"][0]["message"]
    await host.send([{"type": "track", "event": "debug.x", "userId": "u", "messageId": "d-1"}])
    await host.worker.drain()
    [delivery] = await host.deliveries(installed["id"])
    assert (delivery["status"], delivery["outcome"]["code"]) == ("filtered", "dropped_by_rule")


async def test_send_test_event_shows_the_rule_trace(host: HostClient) -> None:
    installed = (await install(host, example("signup"))).json()
    response = await host.http.post(
        f"/v1/admin/integrations/{installed['id']}/send-test-event",
        headers=ADMIN,
        json={"type": "track", "user_id": "u-1", "event": SIGNUP},
    )
    record = response.json()
    assert record["status"] == "delivered", record
    [rule] = record["mapping"]["rules"]
    assert rule["id"] == "signup" and rule["matched"] is True
    assert rule["actions"][0]["omitted"] == ["attributes.email", "attributes.password"]
    assert record["outcome"]["rules"] == ["signup"]
