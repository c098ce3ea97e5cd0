"""The admin API's edges, on both stores: install verifies by default (a failure is a
warning unless verify=true), a duplicate install is refused, DELETE keeps the records,
and a replay names the ids it could not find."""

from __future__ import annotations

import httpx
import pytest
from host_support import ADMIN, CONFIG, FakeCustomerIo, HostClient, track

pytestmark = pytest.mark.usefixtures("store_backend")

INSTALL = "/v1/admin/integration-catalog/customer_io/install"


async def test_install_runs_the_check_by_default_and_warns_of_a_wrong_region(
    host: HostClient, target: FakeCustomerIo
) -> None:
    body = {"name": "eu by mistake", "config": {**CONFIG, "region": "eu"}}
    warned = await host.http.post(INSTALL, headers=ADMIN, json=body)
    assert warned.status_code == 201, warned.text
    [warning] = warned.json()["warnings"]
    assert warning["check"] == "region" and "set region to 'us'" in warning["message"]
    assert warned.json()["verification"]["region"] == "us"
    strict = await host.http.post(
        INSTALL,
        headers=ADMIN,
        params={"verify": "true", "allow_duplicate": "true"},
        json={**body, "name": "strict"},
    )
    assert strict.status_code == 422 and strict.json()["error"]["code"] == "verification_failed"
    skipped = await host.http.post(
        INSTALL,
        headers=ADMIN,
        params={"verify": "false", "allow_duplicate": "true"},
        json={**body, "name": "unchecked"},
    )
    assert skipped.status_code == 201
    assert (skipped.json()["verification"], skipped.json()["warnings"]) == (None, [])
    good = await host.http.post(INSTALL, headers=ADMIN, json={"name": "ok", "config": CONFIG})
    assert good.json()["warnings"] == [] and good.json()["verification"]["ok"] is True
    assert CONFIG["tracking_api_key"] not in warned.text + strict.text + good.text


async def test_the_same_destination_and_config_twice_is_refused_unless_allowed(
    host: HostClient,
) -> None:
    first = await host.install()
    again = await host.http.post(INSTALL, headers=ADMIN, json={"name": "copy", "config": CONFIG})
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_integration"
    assert error["details"][0]["integration_id"] == first["id"]
    other = await host.install(timeout_seconds=7)  # any setting that differs: not a copy
    assert other["id"] != first["id"]
    allowed = await host.http.post(
        INSTALL,
        headers=ADMIN,
        params={"allow_duplicate": "true"},
        json={"name": "copy", "config": CONFIG},
    )
    assert allowed.status_code == 201
    await host.http.delete(f"/v1/admin/integrations/{first['id']}", headers=ADMIN)
    await host.http.delete(f"/v1/admin/integrations/{allowed.json()['id']}", headers=ADMIN)
    reinstalled = await host.http.post(
        INSTALL, headers=ADMIN, json={"name": "new", "config": CONFIG}
    )
    assert reinstalled.status_code == 201  # deleted ones are not copies


async def test_delete_dead_letters_the_pending_and_keeps_every_record(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    iid = installed["id"]
    await host.send([track(1)])
    await host.worker.drain()
    await host.send([track(2), track(3)])
    deleted = await host.http.delete(f"/v1/admin/integrations/{iid}", headers=ADMIN)
    assert deleted.status_code == 200
    assert (deleted.json()["status"], deleted.json()["dead_lettered"]) == ("deleted", 2)
    listed = await host.http.get("/v1/admin/integrations", headers=ADMIN)
    assert listed.json()["data"] == []
    records = {d["message_id"]: d for d in await host.deliveries(iid)}
    assert records["msg-1"]["status"] == "delivered"
    assert {records[m]["reason"]["code"] for m in ("msg-2", "msg-3")} == {"integration_deleted"}
    await host.send([track(4)])
    assert await host.worker.run_once() == 0  # never walked again, never fed
    assert len(await host.deliveries(iid)) == 3 and target.data_requests == 1
    for method, path in (
        ("POST", "enable"),
        ("POST", "resume"),
        ("POST", "replay"),
        ("POST", "send-test-event"),
        ("POST", "revisions"),
    ):
        body = {"config": {"timeout_seconds": 3}} if path == "revisions" else None
        refused = await host.http.request(
            method, f"/v1/admin/integrations/{iid}/{path}", headers=ADMIN, json=body
        )
        assert refused.status_code == 409, path
        assert refused.json()["error"]["code"] == "integration_deleted"
    again = await host.http.delete(f"/v1/admin/integrations/{iid}", headers=ADMIN)
    assert (again.status_code, again.json()["dead_lettered"]) == (200, 0)
    missing = await host.http.delete("/v1/admin/integrations/int_nope", headers=ADMIN)
    assert missing.status_code == 404


@pytest.mark.parametrize(("answer", "ends_as"), [(503, "dead_lettered"), (200, "delivered")])
async def test_a_round_out_when_its_integration_is_deleted_leaves_nothing_pending(
    host: HostClient, target: FakeCustomerIo, answer: int, ends_as: str
) -> None:
    """DELETE while a round's batch is out: what the batch settles as is written back
    after the deletion. A retry must not bring the deliveries back to pending (no worker
    walks a deleted integration: they would wait for ever); one delivered stays so."""
    installed = await host.install()
    iid = installed["id"]
    await host.send([track(1), track(2)])
    if answer != 200:
        target.fail("status", status=answer)
    answered = target.handle
    deletions: list[dict[str, object]] = []

    async def delete_then_answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v2/") and not deletions:
            deleted = await host.http.delete(f"/v1/admin/integrations/{iid}", headers=ADMIN)
            deletions.append(deleted.json())
        return answered(request)

    target.handle = delete_then_answer  # type: ignore[method-assign,assignment]
    assert await host.worker.run_once() == 2
    assert [d["dead_lettered"] for d in deletions] == [2]  # they were pending as it ran
    records = await host.deliveries(iid)
    assert sorted(d["status"] for d in records) == [ends_as, ends_as]
    if ends_as == "dead_lettered":
        assert {d["reason"]["code"] for d in records} == {"integration_deleted"}
    host.clock.advance(3600)
    assert await host.worker.run_once() == 0 and target.data_requests == 1


async def test_replay_names_unknown_ids_and_those_that_were_not_dead_letters(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    nobody = {"type": "identify", "messageId": "nobody", "traits": {"plan": "pro"}}
    await host.send([nobody, track(1)])
    await host.worker.drain()
    by_message = {d["message_id"]: d["id"] for d in await host.deliveries(installed["id"])}
    answer = await host.http.post(
        f"/v1/admin/integrations/{installed['id']}/replay",
        headers=ADMIN,
        json={"delivery_ids": [by_message["msg-1"], 987654], "message_ids": ["nobody", "ghost"]},
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "requeued": 1,
        "delivery_ids": [by_message["nobody"]],
        "unknown": {"delivery_ids": [987654], "message_ids": ["ghost"]},
        "not_replayed": [
            {"delivery_id": by_message["msg-1"], "message_id": "msg-1", "status": "delivered"}
        ],
    }
