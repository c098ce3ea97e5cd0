"""The host's rough edges, as an operator meets them: settings that keep their type,
events that arrive while an integration is disabled."""

from __future__ import annotations

from host_support import ADMIN, FakeCustomerIo, HostClient, track


async def test_integer_settings_stay_integers_through_install_and_revisions(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install(max_requests_per_second=250)
    config = installed["revision"]["config"]
    # The model reads these as floats; the stored config keeps the number as written.
    assert config["max_requests_per_second"] == 250
    assert type(config["max_requests_per_second"]) is int
    assert type(config["timeout_seconds"]) is int  # the default, 10
    path = f"/v1/admin/integrations/{installed['id']}/revisions"
    revised = await host.http.post(path, headers=ADMIN, json={"config": {"timeout_seconds": 2.5}})
    assert revised.status_code == 201, revised.text
    config = revised.json()["revision"]["config"]
    assert type(config["max_requests_per_second"]) is int and config["timeout_seconds"] == 2.5
    again = await host.http.post(path, headers=ADMIN, json={"config": {"timeout_seconds": 30}})
    shown = (await host.integration(installed["id"]))["revision"]["config"]
    assert again.status_code == 201 and type(shown["timeout_seconds"]) is int
    assert '"max_requests_per_second":250,' in (await host.http.get(path, headers=ADMIN)).text
    await host.send([track(1)])
    await host.worker.drain()
    assert target.accepted["msg-1"] == 1  # the destination reads the stored config


async def test_an_event_that_arrives_while_disabled_is_recorded_as_filtered_not_sent(
    host: HostClient, target: FakeCustomerIo
) -> None:
    off = await host.install()
    on = await host.install(site_id="site-host-1", max_requests_per_second=9_000)
    disable = f"/v1/admin/integrations/{off['id']}/disable"
    assert (await host.http.post(disable, headers=ADMIN)).status_code == 200
    await host.send([track(1), track(2)])
    await host.worker.drain()
    [*records] = await host.deliveries(off["id"])
    assert sorted(r["message_id"] for r in records) == ["msg-1", "msg-2"]
    for record in records:
        assert record["status"] == "filtered" and record["attempts"] == 0
        assert record["outcome"]["code"] == "integration_disabled"
        assert record["history"][0]["code"] == "integration_disabled"
        assert record["requests"] == []  # nothing was sent, nor shown as if it would be
    assert (await host.integration(off["id"]))["deliveries"]["filtered"] == 2
    assert [d["status"] for d in await host.deliveries(on["id"])] == ["delivered"] * 2
    assert sum(target.received.values()) == 2  # each once, through the enabled one only
    # Enabling again sends what comes next, never what came meanwhile.
    enable = f"/v1/admin/integrations/{off['id']}/enable"
    assert (await host.http.post(enable, headers=ADMIN)).status_code == 200
    await host.send([track(3)])
    await host.worker.drain()
    shown = {d["message_id"]: d["status"] for d in await host.deliveries(off["id"])}
    assert shown == {"msg-1": "filtered", "msg-2": "filtered", "msg-3": "delivered"}
    assert sum(target.received.values()) == 4  # msg-3 through both; msg-1, 2 not again
