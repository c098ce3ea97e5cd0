"""Emulator: Track API v1 endpoints, their effect on the workspace, limits and error bodies."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_support import NOW, ULID_A, US, new_state, person, track_client

from signal_dest_cio.emulator import EmulatorState


async def send(state: EmulatorState, method: str, path: str, body: Any = None) -> Any:
    async with track_client(state) as client:
        response = await client.request(method, path, json=body)
    return response


async def test_identify_creates_a_person_with_identifiers_attributes_and_a_cio_id() -> None:
    state = new_state()
    body = {"email": "ada@example.com", "plan": "pro", "created_at": 1_700_000_000}
    response = await send(state, "PUT", "/api/v1/customers/u1", body)
    assert (response.status_code, response.json()) == (200, {})
    ada = person(state, "u1")
    assert ada["identifiers"] == {"id": "u1", "email": "ada@example.com", "cio_id": ada["cio_id"]}
    assert ada["attributes"] == {"plan": "pro", "created_at": 1_700_000_000}
    assert ada["created_at"] == 1_700_000_000
    assert person(state, "ADA@example.com")["cio_id"] == ada["cio_id"]  # emails: any case
    assert person(state, "cio_" + ada["cio_id"])["identifiers"]["id"] == "u1"


@pytest.mark.parametrize(
    ("path", "kind", "value"),
    [
        ("/api/v1/customers/a%2Fb", "id", "a/b"),
        ("/api/v1/customers/x%40y.z", "email", "x@y.z"),
        ("/api/v1/customers/%E2%9C%93", "id", "✓"),
    ],
)
async def test_path_identifiers_are_percent_decoded_and_read_by_shape(
    path: str, kind: str, value: str
) -> None:
    state = new_state()
    assert (await send(state, "PUT", path, {"a": 1})).status_code == 200
    [only] = state.people_view(US.site_id)
    assert only["identifiers"][kind] == value


async def test_cio_path_identifier_updates_that_person_and_an_unknown_one_is_dropped() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/u1", {"plan": "a"})
    cio_id = person(state, "u1")["cio_id"]
    await send(state, "PUT", f"/api/v1/customers/cio_{cio_id}", {"id": "u1-new", "plan": "b"})
    assert person(state, "u1-new")["attributes"] == {"plan": "b"}
    response = await send(state, "PUT", "/api/v1/customers/cio_ffffff", {"plan": "c"})
    assert response.status_code == 200
    assert len(state.people_view(US.site_id)) == 1


async def test_null_or_empty_attribute_removes_it() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/u1", {"a": 1, "b": 2, "c": 3})
    await send(state, "PUT", "/api/v1/customers/u1", {"a": None, "b": ""})
    assert person(state, "u1")["attributes"] == {"c": 3}


async def test_update_only_identify_does_not_create_a_person() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/u1", {"_update": True, "a": 1})
    assert state.people_view(US.site_id) == []


async def test_person_event_is_logged_with_name_type_data_timestamp_and_id() -> None:
    state = new_state()
    body = {"name": " signed_up ", "data": {"plan": "pro"}, "timestamp": 1234, "id": ULID_A}
    assert (await send(state, "POST", "/api/v1/customers/u1/events", body)).status_code == 200
    [entry] = person(state, "u1")["activity"]  # the event created the person
    assert entry == {
        "type": "event",
        "name": "signed_up",
        "data": {"plan": "pro"},
        "timestamp": 1234,
        "id": ULID_A,
    }


async def test_page_and_screen_keep_their_type_and_default_to_arrival_time() -> None:
    state = new_state()
    await send(state, "POST", "/api/v1/customers/u1/events", {"name": "/p", "type": "page"})
    body = {"name": "Home", "type": "screen", "anonymous_id": "a1"}
    await send(state, "POST", "/api/v1/customers/u1/events", body)
    activity = person(state, "u1")["activity"]
    assert [(e["type"], e["name"], e["timestamp"]) for e in activity] == [
        ("page", "/p", NOW),
        ("screen", "Home", NOW),
    ]


async def test_devices_are_added_updated_by_token_and_deleted() -> None:
    state = new_state()
    device = {"id": "tok/1", "platform": "ios", "last_used": 5, "attributes": {"app_version": "1"}}
    await send(state, "PUT", "/api/v1/customers/u1/devices", {"device": device})
    update = {"id": "tok/1", "platform": "ios", "attributes": {"device_model": "X"}}
    await send(state, "PUT", "/api/v1/customers/u1/devices", {"device": update})
    [stored] = person(state, "u1")["devices"]
    assert stored == {
        "token": "tok/1",
        "platform": "ios",
        "last_used": NOW,
        "attributes": {"app_version": "1", "device_model": "X"},
    }
    await send(state, "DELETE", "/api/v1/customers/u1/devices/tok%2F1")
    assert person(state, "u1")["devices"] == []


async def test_a_device_token_moves_to_the_person_who_adds_it_last() -> None:
    state = new_state()
    device = {"device": {"id": "tok", "platform": "android"}}
    await send(state, "PUT", "/api/v1/customers/u1/devices", device)
    await send(state, "PUT", "/api/v1/customers/u2/devices", device)
    assert person(state, "u1")["devices"] == []
    assert [d["token"] for d in person(state, "u2")["devices"]] == ["tok"]


async def test_delete_removes_the_person_and_is_recorded() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/u1", {"a": 1})
    assert (await send(state, "DELETE", "/api/v1/customers/u1")).status_code == 200
    assert state.person_view(US.site_id, "u1") is None
    assert state.workspace_view(US.site_id)["deleted"][0]["id"] == "u1"
    assert (await send(state, "DELETE", "/api/v1/customers/nobody")).status_code == 200


async def test_a_suppressed_person_ignores_identify_and_events_until_unsuppressed() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/u1", {"plan": "a"})
    assert (await send(state, "POST", "/api/v1/customers/u1/suppress")).status_code == 200
    assert (await send(state, "PUT", "/api/v1/customers/u1", {"plan": "b"})).status_code == 200
    body = {"name": "ignored"}
    assert (await send(state, "POST", "/api/v1/customers/u1/events", body)).status_code == 200
    suppressed = person(state, "u1")
    assert suppressed["suppressed"] is True
    assert suppressed["attributes"] == {"plan": "a"} and suppressed["activity"] == []
    await send(state, "POST", "/api/v1/customers/u1/unsuppress")
    await send(state, "PUT", "/api/v1/customers/u1", {"plan": "c"})
    assert person(state, "u1")["attributes"] == {"plan": "c"}
    assert person(state, "u1")["suppressed"] is False


async def test_suppressing_an_unknown_identifier_blocks_it() -> None:
    state = new_state()
    await send(state, "POST", "/api/v1/customers/x%40y.z/suppress")
    await send(state, "PUT", "/api/v1/customers/x%40y.z", {"plan": "a"})
    assert person(state, "x@y.z")["attributes"] == {}


async def test_merge_folds_secondary_into_primary_and_removes_it() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/keep", {"plan": "pro", "name": ""})
    await send(state, "PUT", "/api/v1/customers/gone", {"plan": "free", "city": "Oslo"})
    await send(state, "POST", "/api/v1/customers/gone/events", {"name": "old", "timestamp": 1})
    device = {"device": {"id": "t1", "platform": "ios"}}
    await send(state, "PUT", "/api/v1/customers/gone/devices", device)
    body = {"primary": {"id": "keep"}, "secondary": {"id": "gone"}}
    assert (await send(state, "POST", "/api/v1/merge_customers", body)).status_code == 200
    kept = person(state, "keep")
    assert kept["attributes"] == {"plan": "pro", "city": "Oslo"}  # primary's values win
    assert [e["name"] for e in kept["activity"]] == ["old"]
    assert [d["token"] for d in kept["devices"]] == ["t1"]
    assert state.person_view(US.site_id, "gone") is None
    assert state.workspace_view(US.site_id)["merges"][0]["secondary"]["id"] == "gone"


async def test_merge_into_a_primary_that_does_not_exist_does_nothing() -> None:
    state = new_state()
    await send(state, "PUT", "/api/v1/customers/gone", {"a": 1})
    body = {"primary": {"email": "new@example.com"}, "secondary": {"id": "gone"}}
    assert (await send(state, "POST", "/api/v1/merge_customers", body)).status_code == 200
    assert person(state, "gone")["attributes"] == {"a": 1}


# -- limits and error bodies --------------------------------------------------------


def errors_of(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    errors: list[str] = response.json()["meta"]["errors"]
    return errors


async def test_identifier_over_150_bytes_is_400() -> None:
    state = new_state()
    ok = "é" * 75  # 150 bytes
    assert (await send(state, "PUT", f"/api/v1/customers/{ok}", {})).status_code == 200
    response = await send(state, "PUT", f"/api/v1/customers/{ok}x", {})
    assert errors_of(response) == ["identifier: must be at most 150 bytes"]


async def test_event_name_over_100_bytes_is_400_and_100_is_fine() -> None:
    state = new_state()
    path = "/api/v1/customers/u1/events"
    assert (await send(state, "POST", path, {"name": "n" * 100})).status_code == 200
    assert errors_of(await send(state, "POST", path, {"name": "n" * 101})) == [
        "name: must be at most 100 bytes"
    ]


async def test_event_data_over_100000_bytes_is_400() -> None:
    state = new_state()
    path = "/api/v1/customers/u1/events"
    filler = "x" * (100_000 - len('{"k":""}'))
    assert (await send(state, "POST", path, {"name": "e", "data": {"k": filler}})).is_success
    [message] = errors_of(
        await send(state, "POST", path, {"name": "e", "data": {"k": filler + "x"}})
    )
    assert message.startswith("data: is 100001 bytes")


async def test_attribute_name_over_150_and_value_over_1000_bytes_are_400() -> None:
    state = new_state()
    path = "/api/v1/customers/u1"
    fine = {"n" * 150: "v" * 1000, "nested": {"k": "v" * 900}}
    assert (await send(state, "PUT", path, fine)).status_code == 200
    bad = {"n" * 151: 1, "big": "v" * 1001, "nested": {"k": "v" * 1000}}
    errors = errors_of(await send(state, "PUT", path, bad))
    assert errors == [
        f"attributes.{'n' * 40}: attribute name is over 150 bytes",
        "attributes.big: attribute value is over 1000 bytes",
        "attributes.nested: attribute value is over 1000 bytes",
    ]
    assert "big" not in person(state, "u1")["attributes"]  # a refused request changes nothing


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/v1/customers/u1/events", {"data": {}}, "name: is required"),
        ("/api/v1/customers/u1/events", {"name": "e", "type": "click"}, "type: must be"),
        ("/api/v1/customers/u1/events", {"name": "e", "id": "not-a-ulid"}, "id: must be a ULID"),
        ("/api/v1/customers/u1/events", {"name": "e", "timestamp": "today"}, "timestamp: must"),
        ("/api/v1/events", {"anonymous_id": "a1"}, "name: is required"),
        ("/api/v1/customers/u1/devices", {"device": {"platform": "ios"}}, "device.id: is"),
        ("/api/v1/customers/u1/devices", {"device": {"id": "t", "platform": "web"}}, "device.plat"),
        ("/api/v1/customers/u1/devices", {}, "device: must be an object"),
        ("/api/v1/customers/u1", {"_timestamp": "x"}, "_timestamp: must be an integer"),
        ("/api/v1/merge_customers", {"primary": {"id": "a"}}, "secondary: must be an object"),
        ("/api/v1/merge_customers", {"primary": {"id": "a", "email": "b@c.de"}, "secondary": {}},
         "primary: must hold exactly one of"),
    ],
)  # fmt: skip
async def test_missing_or_invalid_fields_are_400_with_meta_errors(
    path: str, body: Any, expected: str
) -> None:
    method = "PUT" if path.endswith(("/devices", "/u1")) else "POST"
    errors = errors_of(await send(new_state(), method, path, body))
    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize("content", [b"{not json", b'{"a": NaN}', b'{"a": Infinity}'])
async def test_a_body_that_is_not_json_is_400_with_meta_error(content: bytes) -> None:
    async with track_client(new_state()) as client:
        response = await client.put("/api/v1/customers/u1", content=content)
    assert response.status_code == 400
    assert response.json() == {"meta": {"error": "request body is not valid JSON"}}


async def test_a_body_that_is_not_an_object_is_400() -> None:
    response = await send(new_state(), "POST", "/api/v1/customers/u1/events", ["e"])
    assert response.status_code == 400 and "meta" in response.json()
