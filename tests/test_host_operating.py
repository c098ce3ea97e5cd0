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
    revised = await host.http.post(
        path, headers=ADMIN, json={"config": {"timeout_seconds": 2.5}}
    )
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
