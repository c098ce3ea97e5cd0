"""Emulator: the App API (Bearer): a person's attributes, transactional email."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_support import EU, NOW, US, app_for, new_state, track_client
from jsonschema import Draft202012Validator
from openapi import published_document
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from signal_dest_cio.emulator import EmulatorState, load_workspaces
from signal_dest_cio.emulator.records import Workspace

API_BASES = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
RECEIPT = {
    "transactional_message_id": 7,
    "to": "Ada Lovelace <ada@example.com>",
    "identifiers": {"id": "u1"},
    "message_data": {"order_id": "A-1"},
}


@asynccontextmanager
async def app_client(
    state: EmulatorState, region: str = "us", key: str | None = US.app_api_key
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on one region's `api` host, with `Bearer key` (None: no header)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(state, region)),
        base_url=API_BASES[region],
        headers=headers,
    ) as client:
        yield client


def customer_schema_validator() -> Draft202012Validator:
    """`customerAttributesObject` of Customer.io's published file, refs resolved in it."""
    uri = "urn:customerio:track-api"
    resource = Resource.from_contents(published_document(), default_specification=DRAFT202012)
    registry = Registry().with_resource(uri, resource)
    schema = {"$ref": f"{uri}#/components/schemas/customerAttributesObject"}
    return Draft202012Validator(schema, registry=registry)


async def known_person(state: EmulatorState) -> None:
    async with track_client(state) as track:
        body = {"email": "Ada@Example.com", "plan": "pro", "seats": 3, "vip": True, "tags": ["a"]}
        assert (await track.put("/api/v1/customers/u1", json=body)).status_code == 200
        device = {"device": {"id": "tok-1", "platform": "ios", "attributes": {"v": 2}}}
        assert (await track.put("/api/v1/customers/u1/devices", json=device)).status_code == 200


# -- attributes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "id_type"),
    [("u1", None), ("u1", "id"), ("ada%40example.com", "email"), ("01000001", "cio_id")],
)
async def test_attributes_find_the_person_by_id_email_or_cio_id(
    identifier: str, id_type: str | None
) -> None:
    state = new_state()
    await known_person(state)
    params = {"id_type": id_type} if id_type else {}
    async with app_client(state) as client:
        response = await client.get(f"/v1/customers/{identifier}/attributes", params=params)
    assert response.status_code == 200, response.text
    customer = response.json()["customer"]
    assert customer["id"] == "u1"
    assert customer["identifiers"] == {"id": "u1", "email": "Ada@Example.com", "cio_id": "01000001"}
    assert customer["attributes"] == {
        "id": "u1",
        "email": "Ada@Example.com",
        "cio_id": "01000001",
        "created_at": str(NOW),
        "plan": "pro",
        "seats": "3",
        "vip": "true",
        "tags": '["a"]',
    }
    assert customer["unsubscribed"] is False
    assert customer["devices"] == [
        {"id": "tok-1", "platform": "ios", "last_used": NOW, "attributes": {"v": "2"}}
    ]
    customer_schema_validator().validate(response.json())


async def test_an_email_only_person_has_a_blank_id_and_null_identifier() -> None:
    state = new_state()
    async with track_client(state) as track:
        await track.put("/api/v1/customers/bo%40example.com", json={"unsubscribed": "1"})
    async with app_client(state) as client:
        response = await client.get(
            "/v1/customers/BO@example.com/attributes", params={"id_type": "email"}
        )
    customer = response.json()["customer"]
    assert customer["id"] == ""
    assert customer["identifiers"]["id"] is None
    assert customer["unsubscribed"] is True
    customer_schema_validator().validate(response.json())


@pytest.mark.parametrize(
    ("identifier", "id_type"),
    [("nobody", "id"), ("u1", "email"), ("ada@example.com", "id"), ("cio_01000001", "cio_id")],
)
async def test_an_unknown_person_is_404(identifier: str, id_type: str) -> None:
    state = new_state()
    await known_person(state)
    async with app_client(state) as client:
        response = await client.get(
            f"/v1/customers/{identifier}/attributes", params={"id_type": id_type}
        )
    assert response.status_code == 404
    assert response.json() == {"errors": [{"detail": "The customer was not found"}]}


async def test_a_suppressed_person_is_404_as_customer_io_deletes_them() -> None:
    state = new_state()
    await known_person(state)
    async with track_client(state) as track:
        await track.post("/api/v1/customers/u1/suppress")
    async with app_client(state) as client:
        response = await client.get("/v1/customers/u1/attributes")
    assert response.status_code == 404


async def test_an_unknown_id_type_is_400() -> None:
    state = new_state()
    await known_person(state)
    async with app_client(state) as client:
        response = await client.get("/v1/customers/u1/attributes", params={"id_type": "phone"})
    assert response.status_code == 400
    assert "id_type" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("region", "key"),
    [
        ("us", EU.app_api_key),  # an EU workspace on the US api host: no redirect, a 401
        ("eu", US.app_api_key),
        ("us", "wrong"),
        ("us", US.track_api_key),
        ("us", None),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/customers/u1/attributes"), ("POST", "/v1/send/email")],
)
async def test_app_api_calls_need_the_app_key_of_a_workspace_of_that_region(
    region: str, key: str | None, method: str, path: str
) -> None:
    state = new_state()
    await known_person(state)
    async with app_client(state, region, key) as client:
        response = await client.request(method, path, json=RECEIPT if method == "POST" else None)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"detail": "Unauthorized request"}]}
    assert state.sends_view(US.site_id) == [] and state.sends_view(EU.site_id) == []


async def test_the_eu_workspace_is_served_on_the_eu_api_host() -> None:
    state = new_state()
    async with app_client(state, "eu", EU.app_api_key) as client:
        sent = await client.post("/v1/send/email", json=RECEIPT)
        read = await client.get("/v1/customers/u1/attributes")
    assert sent.status_code == 200 and read.status_code == 200
    assert len(state.sends_view(EU.site_id)) == 1 and state.sends_view(US.site_id) == []


# -- transactional email ----------------------------------------------------------------


async def test_a_send_is_queued_recorded_and_readable_under_the_inspection_api() -> None:
    state = new_state()
    await known_person(state)
    body = RECEIPT | {"bcc": "audit@example.com", "send_to_unsubscribed": False}
    async with app_client(state) as client:
        response = await client.post("/v1/send/email", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        listed = (await client.get(f"/_emulator/workspaces/{US.site_id}/sends")).json()
    assert set(answer) == {"delivery_id", "queued_at"}
    assert answer["queued_at"] == NOW and answer["delivery_id"]
    assert listed == {
        "sends": [
            {
                "delivery_id": answer["delivery_id"],
                "queued_at": NOW,
                "transactional_message_id": 7,
                "template": "order_receipt",
                "subject": "Your receipt for order A-1",
                "to": "Ada Lovelace <ada@example.com>",
                "identifiers": {"id": "u1"},
                "cio_id": "01000001",
                "message_data": {"order_id": "A-1"},
                "options": {"bcc": "audit@example.com", "send_to_unsubscribed": False},
                "webhooks": [],
            }
        ]
    }
    assert state.workspace_view(US.site_id)["sends"] == 1


@pytest.mark.parametrize("named", [7, "7", "order_receipt", "Order_Receipt", " ORDER_RECEIPT "])
async def test_the_template_is_named_by_id_or_trigger_name_in_any_case(named: Any) -> None:
    state = new_state()
    async with app_client(state) as client:
        response = await client.post(
            "/v1/send/email", json=RECEIPT | {"transactional_message_id": named}
        )
    assert response.status_code == 200, response.text
    [send] = state.sends_view(US.site_id)
    assert send["transactional_message_id"] == 7 and send["template"] == "order_receipt"


async def test_two_sends_get_different_delivery_ids_and_a_subject_override_is_rendered() -> None:
    state = new_state()
    async with app_client(state) as client:
        first = (await client.post("/v1/send/email", json=RECEIPT)).json()
        override = RECEIPT | {"subject": "Order {{message_data.order_id}} for {{customer.id}}"}
        second = (await client.post("/v1/send/email", json=override)).json()
    assert first["delivery_id"] != second["delivery_id"]
    assert [s["subject"] for s in state.sends_view(US.site_id)] == [
        "Your receipt for order A-1",
        "Order A-1 for u1",
    ]


@pytest.mark.parametrize("named", [99, "99", "no_such_template"])
async def test_an_unknown_template_is_404_and_nothing_is_recorded(named: Any) -> None:
    state = new_state()
    async with app_client(state) as client:
        response = await client.post(
            "/v1/send/email", json=RECEIPT | {"transactional_message_id": named}
        )
    assert response.status_code == 404
    assert response.json() == {"meta": {"error": f"transactional message {named!r} not found"}}
    assert state.sends_view(US.site_id) == []
    assert state.people_view(US.site_id) == []  # a refused send creates no one


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"transactional_message_id": None}, "transactional_message_id is required"),
        ({"transactional_message_id": True}, "transactional_message_id must be"),
        ({"transactional_message_id": ""}, "transactional_message_id must be"),
        ({"to": None}, "to is required"),
        ({"to": "  "}, "to is required"),
        ({"identifiers": None}, "identifiers must hold exactly one"),
        ({"identifiers": {}}, "identifiers must hold exactly one"),
        ({"identifiers": {"id": "u1", "email": "a@example.com"}}, "identifiers must hold"),
        ({"identifiers": {"phone": "+15555550100"}}, "identifiers must hold exactly one"),
        ({"identifiers": {"id": ""}}, "identifiers must hold exactly one"),
        ({"identifiers": {"email": 5}}, "identifiers must hold exactly one"),
        ({"message_data": ["x"]}, "message_data must be an object"),
        ({"subject": 5}, "subject must be a string"),
    ],
)
async def test_a_malformed_send_is_400_with_customer_io_s_meta_error(
    change: dict[str, Any], error: str
) -> None:
    state = new_state()
    body = {k: v for k, v in (RECEIPT | change).items() if v is not None}
    async with app_client(state) as client:
        response = await client.post("/v1/send/email", json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"meta"}
    assert response.json()["meta"]["error"].startswith(error)
    assert state.sends_view(US.site_id) == [] and state.people_view(US.site_id) == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"NaN"])
async def test_a_send_that_is_not_a_json_object_is_400(raw: bytes) -> None:
    async with app_client(new_state()) as client:
        response = await client.post("/v1/send/email", content=raw)
    assert response.status_code == 400 and "error" in response.json()["meta"]


@pytest.mark.parametrize(
    ("identifiers", "found"),
    [
        ({"id": "new-1"}, {"id": "new-1"}),
        ({"email": "new@example.com"}, {"email": "new@example.com"}),
    ],
)
async def test_a_send_to_an_unknown_id_or_email_creates_the_person(
    identifiers: dict[str, str], found: dict[str, str]
) -> None:
    state = new_state()
    async with app_client(state) as client:
        response = await client.post("/v1/send/email", json=RECEIPT | {"identifiers": identifiers})
    assert response.status_code == 200
    [created] = state.people_view(US.site_id)
    assert created["identifiers"] == found | {"cio_id": created["cio_id"]}
    assert state.sends_view(US.site_id)[0]["cio_id"] == created["cio_id"]


async def test_a_send_to_a_known_email_goes_to_that_person_case_insensitively() -> None:
    state = new_state()
    await known_person(state)
    async with app_client(state) as client:
        identifiers = {"email": "ADA@example.COM"}
        await client.post("/v1/send/email", json=RECEIPT | {"identifiers": identifiers})
    assert len(state.people_view(US.site_id)) == 1
    assert state.sends_view(US.site_id)[0]["cio_id"] == "01000001"


async def test_a_send_to_an_unknown_cio_id_is_404_and_creates_no_one() -> None:
    state = new_state()
    async with app_client(state) as client:
        body = RECEIPT | {"identifiers": {"cio_id": "0100ffff"}}
        response = await client.post("/v1/send/email", json=body)
    assert response.status_code == 404
    assert "cio_id" in response.json()["meta"]["error"]
    assert state.people_view(US.site_id) == [] and state.sends_view(US.site_id) == []


async def test_a_send_to_a_suppressed_person_is_queued_and_noted() -> None:
    state = new_state()
    await known_person(state)
    async with track_client(state) as track:
        await track.post("/api/v1/customers/u1/suppress")
    async with app_client(state) as client:
        assert (await client.post("/v1/send/email", json=RECEIPT)).status_code == 200
    [*_, logged] = state.request_log()
    assert logged["workspace"] == US.site_id
    assert any("suppressed" in note for note in logged["notes"])


def test_templates_come_from_the_workspace_file(tmp_path: Path) -> None:
    entry = {
        "site_id": "s1",
        "track_api_key": "t",
        "app_api_key": "app-KEY-4242",
        "region": "us",
        "transactional_templates": [{"id": 3, "name": "PwdReset", "subject": "Reset it"}],
    }
    path = tmp_path / "workspaces.json"
    path.write_text(json.dumps([entry, {**entry, "site_id": "s2", "app_api_key": "b"}]))
    first, second = load_workspaces(path)
    template = first.template("pwdreset")
    assert template is not None and (template.id, template.subject) == (3, "Reset it")
    assert first.template(3) == template and first.template(4) is None
    assert second.transactional_templates == first.transactional_templates
    assert "PwdReset" in repr(first) and "app-KEY-4242" not in repr(first)


@pytest.mark.parametrize(
    "templates",
    [
        {"id": 1},
        [{"id": 0, "name": "x"}],
        [{"id": True, "name": "x"}],
        [{"id": 1, "name": ""}],
        [{"id": 1, "name": "12"}],
        [{"id": 1, "name": "x", "subject": 3}],
        [{"id": 1, "name": "x"}, {"id": 1, "name": "y"}],
        [{"id": 1, "name": "x"}, {"id": 2, "name": "X"}],
    ],
)
def test_bad_templates_in_a_workspace_file_are_refused(tmp_path: Path, templates: Any) -> None:
    entry = {"site_id": "s", "track_api_key": "t", "app_api_key": "a", "region": "us"}
    path = tmp_path / "workspaces.json"
    path.write_text(json.dumps(entry | {"transactional_templates": templates}))
    with pytest.raises(ValueError, match="transactional_templates"):
        load_workspaces(path)


def test_the_demo_workspaces_have_the_welcome_and_order_receipt_templates() -> None:
    for workspace in (US, EU):
        assert [(t.id, t.name) for t in workspace.transactional_templates] == [
            (1, "welcome"),
            (7, "order_receipt"),
        ]
    assert Workspace("s", "t", "a", "us").transactional_templates == ()


async def add_fault(client: httpx.AsyncClient, **fault: Any) -> None:
    response = await client.post("/_emulator/faults", json=fault)
    assert response.status_code == 201, response.text
