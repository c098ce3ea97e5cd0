"""The emulator over TLS, driven by Customer.io's own Python client (`customerio`, requests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from customerio import CustomerIO, CustomerIOException
from emulator_support import US, new_state, person

from signal_dest_cio.emulator import EmulatorState, serve_in_thread


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmulatorState, int]]:
    """The emulator on https://127.0.0.1:<port>, its CA trusted by requests."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cafile))
    state = new_state()
    with serve_in_thread(state, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as urls:
        assert urls.us.startswith("https://127.0.0.1:")
        yield state, int(urls.us.rsplit(":", 1)[1])


def client(port: int) -> CustomerIO:
    return CustomerIO(US.site_id, US.track_api_key, host="127.0.0.1", port=port, retries=0)


def test_official_client_v1_calls_land_in_the_workspace(served: tuple[EmulatorState, int]) -> None:
    state, port = served
    cio = client(port)
    signed_up = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    cio.track_anonymous("anon-1", "browsed", data={"page": "pricing"}, timestamp=100)
    assert [e["name"] for e in state.anonymous_view(US.site_id)] == ["browsed"]
    cio.identify("u1", email="ada@example.com", plan="pro", created_at=signed_up)
    cio.identify("u1", anonymous_id="anon-1")
    cio.track("u1", "signed_up", data={"plan": "pro"}, id="01HZY8Q0J6X7V2M3N4P5Q6R7S8")
    cio.pageview("u1", "https://example.com/pricing", referrer="search")
    cio.add_device("u1", "tok-1", "ios", last_used=123)

    ada = person(state, "u1")
    assert ada["identifiers"]["email"] == "ada@example.com"
    assert ada["attributes"] == {"plan": "pro", "created_at": int(signed_up.timestamp())}
    assert [(e["type"], e["name"]) for e in ada["activity"]] == [
        ("event", "browsed"),  # merged from the anonymous visitor, timestamp 100
        ("event", "signed_up"),
        ("page", "https://example.com/pricing"),
    ]
    assert ada["activity"][2]["data"] == {"referrer": "search"}
    assert ada["devices"] == [
        {"token": "tok-1", "platform": "ios", "last_used": 123, "attributes": {}}
    ]
    assert state.anonymous_view(US.site_id) == []

    cio.delete_device("u1", "tok-1")
    assert person(state, "u1")["devices"] == []

    cio.identify("old-1", city="Oslo")
    cio.merge_customers("id", "u1", "id", "old-1")
    assert person(state, "u1")["attributes"]["city"] == "Oslo"
    assert state.person_view(US.site_id, "old-1") is None

    cio.suppress("u1")
    cio.identify("u1", plan="ignored")
    assert person(state, "u1")["suppressed"] and person(state, "u1")["attributes"]["plan"] == "pro"
    cio.unsuppress("u1")
    cio.delete("u1")
    assert state.people_view(US.site_id) == []


def test_official_client_v2_batch(served: tuple[EmulatorState, int]) -> None:
    state, port = served
    client(port).batch(
        [
            {"type": "person", "identifiers": {"id": "u2"}, "action": "identify",
             "attributes": {"plan": "team"}},
            {"type": "person", "identifiers": {"id": "u2"}, "action": "event", "name": "joined"},
        ]
    )  # fmt: skip
    u2 = person(state, "u2")
    assert u2["attributes"] == {"plan": "team"}
    assert [e["name"] for e in u2["activity"]] == ["joined"]


def test_official_client_sees_errors_as_exceptions(served: tuple[EmulatorState, int]) -> None:
    state, port = served
    with pytest.raises(CustomerIOException, match="400"):
        client(port).track("u3", "n" * 101)
    wrong = CustomerIO(US.site_id, "wrong-key", host="127.0.0.1", port=port, retries=0)
    with pytest.raises(CustomerIOException, match="401"):
        wrong.identify("u3", plan="x")
    assert state.person_view(US.site_id, "u3") is None
