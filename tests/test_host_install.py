"""The catalog and install API (SPEC 6): bearer auth, validation with field paths,
verification, immutable revisions, enable/disable, and the error shape."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import httpx
import pytest
from host_support import (
    ADMIN,
    ADMIN_TOKEN,
    APP_KEY,
    CONFIG,
    TRACK_KEY,
    FakeCustomerIo,
    HostClient,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from signal_dest_cio.hookspecs import hookimpl
from signal_dest_cio.host import create_app, sign
from signal_dest_cio.host.discovery import plugin_manager

INSTALL = "/v1/admin/integration-catalog/customer_io/install"


def assert_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic " + ADMIN["Authorization"].split()[1]},
        {"Authorization": "Bearer"},
    ],
)
async def test_every_admin_route_needs_the_bearer_token(
    host: HostClient, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/v1/admin/integration-catalog"),
        ("GET", "/v1/admin/integration-catalog/customer_io"),
        ("POST", INSTALL),
        ("GET", "/v1/admin/integrations"),
        ("POST", "/v1/admin/integrations/int_x/replay"),
    ]:
        response = await host.http.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert_error(response.json(), "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_catalog_lists_the_destination_found_through_its_entry_point(
    host: HostClient,
) -> None:
    listed = (await host.http.get("/v1/admin/integration-catalog", headers=ADMIN)).json()
    assert [entry["key"] for entry in listed["data"]] == ["customer_io"]
    shown = await host.http.get("/v1/admin/integration-catalog/customer_io", headers=ADMIN)
    assert shown.status_code == 200
    assert [v["key"] for v in shown.json()["variants"]][:2] == ["default", "us"]
    assert {field["key"] for field in shown.json()["config_fields"]} >= {"site_id", "region"}


async def test_unknown_vendor_is_404_with_the_error_shape(host: HostClient) -> None:
    shown = await host.http.get("/v1/admin/integration-catalog/mailchimp", headers=ADMIN)
    assert shown.status_code == 404
    assert_error(shown.json(), "not_found")
    install = await host.http.post(
        "/v1/admin/integration-catalog/mailchimp/install",
        headers=ADMIN,
        json={"name": "x", "config": CONFIG},
    )
    assert install.status_code == 404
    assert "mailchimp" in assert_error(install.json(), "not_found")["message"]


async def test_install_returns_the_integration_and_revision_1_with_secrets_masked(
    host: HostClient,
) -> None:
    response = await host.http.post(
        INSTALL,
        headers=ADMIN,
        json={
            "name": "Customer.io prod",
            "variant": "eu",
            "config": {**CONFIG, "region": "EU"},
            "delivery_mode": "server_side",
        },
    )
    assert response.status_code == 201
    integration = response.json()
    assert integration["name"] == "Customer.io prod"
    assert integration["destination"] == "customer_io"
    assert integration["variant"] == "eu"
    assert integration["delivery_mode"] == "server_side"
    assert integration["status"] == "active" and integration["enabled"] is True
    revision = integration["revision"]
    assert revision["number"] == 1
    assert revision["config"]["tracking_api_key"] == "********"
    assert revision["config"]["api_key"] == "********"
    assert revision["config"]["region"] == "eu"  # normalised by the destination's model
    assert revision["config"]["api"] == "v2"  # from the variant's default_config
    assert TRACK_KEY not in response.text and APP_KEY not in response.text
    again = await host.integration(integration["id"])
    assert again["revision"] == revision


async def test_invalid_config_is_422_naming_each_field_and_never_the_secret(
    host: HostClient,
) -> None:
    secret = "sk-LEAKY-SECRET-9999"
    response = await host.http.post(
        INSTALL,
        headers=ADMIN,
        json={
            "name": "broken",
            "config": {"site_id": "s", "api_key": secret, "region": "mars", "nope": secret},
        },
    )
    assert response.status_code == 422
    error = assert_error(response.json(), "invalid_config")
    fields = {detail["field"]: detail["code"] for detail in error["details"]}
    assert fields == {
        "config.tracking_api_key": "missing",
        "config.region": "enum",
        "config.nope": "extra_forbidden",
    }
    assert secret not in response.text


async def test_install_body_problems_are_422_without_echoing_the_body(host: HostClient) -> None:
    response = await host.http.post(
        INSTALL, headers=ADMIN, json={"config": CONFIG, "delivery_mode": "client_side"}
    )
    assert response.status_code == 422
    error = assert_error(response.json(), "invalid_request")
    assert {detail["field"] for detail in error["details"]} == {"body.name", "body.delivery_mode"}
    assert TRACK_KEY not in response.text
    unknown_variant = await host.http.post(
        INSTALL, headers=ADMIN, json={"name": "x", "variant": "apac", "config": CONFIG}
    )
    assert unknown_variant.status_code == 422
    assert assert_error(unknown_variant.json(), "invalid_variant")["details"][0]["field"] == (
        "variant"
    )


async def test_verify_refuses_the_wrong_region_and_names_the_right_one(
    host: HostClient, target: FakeCustomerIo
) -> None:
    target.region = "eu"
    response = await host.http.post(
        INSTALL + "?verify=true", headers=ADMIN, json={"name": "x", "config": CONFIG}
    )
    assert response.status_code == 422
    error = assert_error(response.json(), "verification_failed")
    assert [detail["check"] for detail in error["details"]] == ["region"]
    assert "set region to 'eu'" in error["message"]
    listed = (await host.http.get("/v1/admin/integrations", headers=ADMIN)).json()
    assert listed["data"] == []  # nothing was installed


async def test_verify_refuses_bad_credentials(host: HostClient, target: FakeCustomerIo) -> None:
    target.track_key = "rotated"
    response = await host.http.post(
        INSTALL + "?verify=true", headers=ADMIN, json={"name": "x", "config": CONFIG}
    )
    assert response.status_code == 422
    error = assert_error(response.json(), "verification_failed")
    assert error["details"][0] == {
        "check": "track_credentials",
        "message": "Customer.io refused the site_id and Track API key",
    }
    assert TRACK_KEY not in response.text


async def test_verify_accepts_good_credentials(host: HostClient) -> None:
    response = await host.http.post(
        INSTALL + "?verify=true", headers=ADMIN, json={"name": "x", "config": CONFIG}
    )
    assert response.status_code == 201


async def test_a_new_config_is_a_new_revision_and_old_ones_do_not_change(
    host: HostClient,
) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/revisions"
    response = await host.http.post(
        path, headers=ADMIN, json={"config": {"api": "v1", "tracking_api_key": "********"}}
    )
    assert response.status_code == 201
    assert response.json()["revision"]["number"] == 2
    assert response.json()["revision"]["config"]["api"] == "v1"
    revisions = (await host.http.get(path, headers=ADMIN)).json()["data"]
    assert [(r["number"], r["config"]["api"]) for r in revisions] == [(1, "v2"), (2, "v1")]
    # The secrets the client never saw were carried over, not replaced by the mask.
    stored = host.host.store.get_revision(installed["id"], 2).config
    assert stored["tracking_api_key"] == TRACK_KEY and stored["api_key"] == APP_KEY
    bad = await host.http.post(path, headers=ADMIN, json={"config": {"region": "mars"}})
    assert bad.status_code == 422
    assert assert_error(bad.json(), "invalid_config")["details"][0]["field"] == "config.region"
    missing = await host.http.post(
        "/v1/admin/integrations/int_nope/revisions", headers=ADMIN, json={"config": {}}
    )
    assert missing.status_code == 404


async def test_integrations_can_be_disabled_and_enabled(host: HostClient) -> None:
    installed = await host.install()
    base = f"/v1/admin/integrations/{installed['id']}"
    disabled = await host.http.post(base + "/disable", headers=ADMIN)
    assert disabled.json()["status"] == "disabled" and disabled.json()["enabled"] is False
    enabled = await host.http.post(base + "/enable", headers=ADMIN)
    assert enabled.json()["status"] == "active"


class FakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr = Field(json_schema_extra={"x-secret": True})


class FakeDestination:
    """Another vendor's plugin: the host knows it only through the hook."""

    key = "fake_vendor"
    config_model = FakeConfig
    sent: ClassVar[list[Any]] = []

    def __init__(self, config: Any, **_transports: Any) -> None:
        self.config = FakeConfig.model_validate(config)

    @staticmethod
    def catalog_entry() -> dict[str, Any]:
        return {"key": "fake_vendor", "name": "Fake", "variants": [], "config_fields": []}

    @staticmethod
    def config_schema() -> dict[str, Any]:
        return FakeConfig.model_json_schema()

    def preview(self, event: Any) -> dict[str, Any]:
        return {"requests": [{"method": "POST", "url": "https://fake.test/", "json": event}]}

    async def deliver(self, events: list[Any]) -> list[dict[str, Any]]:
        self.sent.extend(events)
        return [{"kind": "delivered", "code": "ok", "status": 200} for _ in events]

    async def aclose(self) -> None:
        pass


class FakePlugin:
    @hookimpl
    def signal_destinations(self) -> list[Any]:
        return [FakeDestination]


async def test_destinations_come_from_the_plugin_hook_not_from_imports() -> None:
    plugins = plugin_manager()
    plugins.register(FakePlugin())
    app = create_app(admin_token=ADMIN_TOKEN, signing_secret="s", plugins=plugins, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
        listed = (await http.get("/v1/admin/integration-catalog", headers=ADMIN)).json()
        assert [entry["key"] for entry in listed["data"]] == ["customer_io", "fake_vendor"]
        installed = await http.post(
            "/v1/admin/integration-catalog/fake_vendor/install",
            headers=ADMIN,
            json={"name": "fake", "config": {"token": "fake-SECRET-token"}},
        )
        assert installed.status_code == 201
        assert installed.json()["revision"]["config"] == {"token": "********"}
        body = json.dumps({"type": "track", "messageId": "f-1"}).encode()
        stamp = int(time.time() * 1000)
        signed = {
            "X-Timestamp": str(stamp),
            "X-Signature": sign(app.state.signing_secret, stamp, body),
        }
        assert (await http.post("/v1/events", content=body, headers=signed)).status_code == 202
        await app.state.host.worker.drain()
        assert [event["messageId"] for event in FakeDestination.sent] == ["f-1"]
    app.state.host.store.close()
