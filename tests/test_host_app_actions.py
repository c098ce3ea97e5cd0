"""The App API actions through the host's admin API (SPEC 10)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from host_support import ADMIN, APP_KEY, running_host


class AppApi:
    def __init__(self) -> None:
        self.sends: list[Any] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {APP_KEY}":
            return httpx.Response(401, json={"meta": {"error": "Unauthorized"}})
        if request.url.path == "/v1/customers/u1/attributes":
            return httpx.Response(200, json={"customer": {"id": "u1", "attributes": {"a": 1}}})
        if request.url.path.endswith("/attributes"):
            return httpx.Response(404, json={"errors": [{"detail": "not found"}]})
        if request.url.path == "/v1/send/email":
            self.sends.append(json.loads(request.content))
            return httpx.Response(200, json={"delivery_id": "d-9", "queued_at": 1})
        return httpx.Response(200, json={})

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)


async def test_a_person_is_read_back_and_an_unknown_one_is_a_404() -> None:
    api = AppApi()
    async with running_host(api.transport) as host:
        installed = await host.install()
        path = f"/v1/admin/integrations/{installed['id']}/customers"
        found = await host.http.get(f"{path}/u1", headers=ADMIN)
        assert found.status_code == 200
        assert found.json()["body"]["customer"]["attributes"] == {"a": 1}
        missing = await host.http.get(f"{path}/ghost?id_type=email", headers=ADMIN)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert APP_KEY not in found.text + missing.text
        anonymous = await host.http.get(f"{path}/u1")
        assert anonymous.status_code == 401


async def test_a_transactional_email_is_sent_once_and_a_bad_one_named() -> None:
    api = AppApi()
    async with running_host(api.transport) as host:
        installed = await host.install()
        path = f"/v1/admin/integrations/{installed['id']}/transactional"
        message = {
            "transactional_message_id": 7,
            "to": "ada@example.com",
            "identifiers": {"id": "u1"},
            "message_data": {"order": "A-1"},
        }
        sent = await host.http.post(path, headers=ADMIN, json=message)
        assert sent.status_code == 200 and sent.json()["body"]["delivery_id"] == "d-9"
        bad = await host.http.post(path, headers=ADMIN, json=message | {"identifiers": {}})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_message"
    assert api.sends == [message]
