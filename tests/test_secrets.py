"""Secrets never leave the process: not in logs, output, previews, outcomes or errors.

A full flow runs with two distinctive keys while structlog renders through the
CLI's real processor chain (with `redact_secrets`) into a captured stream; then
every text the flow produced is searched for the keys, raw and base64-encoded.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import ValidationError

from signal_dest_cio.cli import configure_logging, main
from signal_dest_cio.destination import CustomerIoDestination
from signal_dest_cio.logging import REDACTED, redact_secrets, register_secret
from signal_dest_cio.outcomes import Outcome

SITE_ID = "site-1"
TRACK_KEY = "trk-SECRET-123456"
APP_KEY = "app-SECRET-654321"
BASIC = base64.b64encode(f"{SITE_ID}:{TRACK_KEY}".encode()).decode()
SECRET_FORMS = (TRACK_KEY, APP_KEY, BASIC)
CONFIG = {"site_id": SITE_ID, "tracking_api_key": TRACK_KEY, "api_key": APP_KEY, "region": "us"}
REGION_PATH = "/api/v1/accounts/region"

Handler = Callable[[httpx.Request], httpx.Response]


def event(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"msg-{number}",
        "userId": f"user-{number}",
        "event": "feature.used",
        "timestamp": "2026-03-03T14:02:11Z",
        "properties": {"feature": "dashboards"},
        **fields,
    }


NO_PERSON = {"type": "identify", "messageId": "msg-nobody", "traits": {"plan": "pro"}}


def assert_no_secrets(where: str, text: str) -> None:
    for secret in SECRET_FORMS:
        assert secret not in text, f"a secret leaked into {where}"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(stream)  # the CLI's chain: ..., format_exc_info, redact_secrets, JSON
    yield stream
    structlog.reset_defaults()


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# -- handlers standing in for Customer.io ---------------------------------------------


def answer(status: int, body: Any = None, region: str | None = None) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Basic {BASIC}"  # the key is really sent
        if request.url.path == REGION_PATH:
            if region is None:
                return httpx.Response(401, json={"meta": {"error": "Unauthorized"}})
            return httpx.Response(200, json={"region": region})
        return httpx.Response(status, json={} if body is None else body)

    return handle


def echo_credentials(status: int) -> Handler:
    """A relay that quotes the credentials it was sent in its error body."""

    def handle(request: httpx.Request) -> httpx.Response:
        auth = request.headers["Authorization"]
        decoded = base64.b64decode(auth.split()[1]).decode()
        body: dict[str, Any] = {"meta": {"error": f"refused {auth} ({decoded})"}}
        if status == 207:
            body = {"errors": [{"batch_index": 0, "reason": "invalid", "message": decoded}]}
        return httpx.Response(status, json=body)

    return handle


# (name, api, handler, events, expected (kind, code) per event)
SCENARIOS: list[tuple[str, str, Handler, list[Any], list[tuple[str, str]]]] = [
    ("ok", "v2", answer(200), [event(1), event(2)], [("delivered", "ok")] * 2),
    ("ok_v1", "v1", answer(200), [event(3)], [("delivered", "ok")]),
    (
        "wrong_region",
        "v2",
        answer(401, {"meta": {"error": "Unauthorized request"}}, region="eu"),
        [event(4)],
        [("config_error", "region_mismatch")],
    ),
    (
        "bad_key",
        "v1",
        answer(401, {"meta": {"error": "Unauthorized request"}}),
        [event(5)],
        [("config_error", "invalid_credentials")],
    ),
    ("server_error", "v2", answer(500), [event(6)], [("retry", "server_error")]),
    (
        "rejected_event",
        "v2",
        answer(200),
        [event(7), NO_PERSON],
        [("delivered", "ok"), ("rejected", "missing_identifier")],
    ),
    ("echo_400", "v2", echo_credentials(400), [event(8)], [("rejected", "bad_request")]),
    ("echo_207", "v2", echo_credentials(207), [event(9)], [("rejected", "item_rejected")]),
    (
        "echo_401",
        "v1",
        echo_credentials(401),
        [event(10)],
        [("config_error", "invalid_credentials")],
    ),
]


async def deliver_all(log_stream: io.StringIO) -> tuple[list[str], list[list[Outcome]]]:
    texts: list[str] = []
    results: list[list[Outcome]] = []
    for name, api, handler, events, expected in SCENARIOS:
        config = {**CONFIG, "api": api}
        transport = httpx.MockTransport(handler)
        async with CustomerIoDestination(config, transport=transport) as destination:
            outcomes = await destination.deliver(events)
            texts += [repr(destination), str(destination.__dict__)]
        assert [(o.kind, o.code) for o in outcomes] == expected, name
        texts += [outcome.model_dump_json() for outcome in outcomes]
        texts += [repr(outcome) for outcome in outcomes]
        results.append(outcomes)
    return texts, results


def config_errors() -> list[str]:
    """The text of every error a host could show for a bad config carrying the keys."""
    bad_configs: list[dict[str, Any]] = [
        {**CONFIG, "tracking_key": "x"},  # unknown key
        {**CONFIG, "region": "mars"},
        {**CONFIG, "region": "US-EAST"},
        {key: value for key, value in CONFIG.items() if key != "site_id"},
        {**CONFIG, "track_api_base_url": "http://relay.example.com"},
        {**CONFIG, "api": "v3", "page_name": "title", "timeout_seconds": -1},
    ]
    texts: list[str] = []
    for bad in bad_configs:
        with pytest.raises(ValidationError) as caught:
            CustomerIoDestination(bad)
        texts += [str(caught.value), repr(caught.value), caught.value.json()]
    return texts


async def test_a_full_flow_never_shows_the_secrets(
    log_stream: io.StringIO, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    texts = config_errors()

    # Previews, through the API and through the CLI.
    destination = CustomerIoDestination(CONFIG)
    texts += [repr(destination), repr(destination.config), str(destination.config)]
    texts += [destination.config.model_dump_json(), json.dumps(destination.config_schema())]
    for api in ("v1", "v2"):
        for item in (event(1), NO_PERSON, "{not json"):
            texts.append(json.dumps(destination.preview(item, api).as_json()))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(CONFIG))
    events_path = tmp_path / "events.jsonl"
    events_path.write_text(json.dumps(event(1)) + "\n{not json\n" + json.dumps(NO_PERSON) + "\n")
    assert main(["preview", "--config", str(config_path), str(events_path)]) == 1  # some bad
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(json.dumps({**CONFIG, "region": TRACK_KEY, "extra": APP_KEY}))
    assert main(["preview", "--config", str(bad_config), str(events_path)]) == 2

    # Delivery against every kind of answer, and the connection check.
    delivered_texts, _ = await deliver_all(log_stream)
    texts += delivered_texts
    track = httpx.MockTransport(answer(401))
    app = httpx.MockTransport(lambda request: httpx.Response(401, json={"errors": ["no"]}))
    report = await CustomerIoDestination(CONFIG, transport=track, app_transport=app).check()
    assert not report.ok
    texts.append(report.model_dump_json())

    out, err = capsys.readouterr()
    logs = log_stream.getvalue()
    assert out and "region" in err and logs  # each channel really carried something
    assert_no_secrets("stdout", out)
    assert_no_secrets("stderr", err)
    assert_no_secrets("the logs", logs)
    for text in texts:
        assert_no_secrets(text[:80], text)


async def test_echoed_credentials_are_scrubbed_from_outcome_messages(
    log_stream: io.StringIO,
) -> None:
    _, results = await deliver_all(log_stream)
    echoed = [
        outcome for outcomes in results for outcome in outcomes if REDACTED in outcome.message
    ]
    # 400, 207 and 401 relays all quoted the key; each message kept its words, not the key.
    assert len(echoed) == 3
    assert any("refused Basic" in outcome.message for outcome in echoed)


async def test_one_delivery_log_line_per_deliver_call(log_stream: io.StringIO) -> None:
    _, results = await deliver_all(log_stream)
    lines = [line for line in log_lines(log_stream) if line["event"] == "delivery"]
    assert len(lines) == len(SCENARIOS)
    for line, (name, api, _, events, expected), outcomes in zip(
        lines, SCENARIOS, results, strict=True
    ):
        assert line["destination"] == "customer_io", name
        assert line["site_id"] == SITE_ID and line["api"] == api, name
        assert line["level"] == "info", name
        assert line["message_ids"] == [item["messageId"] for item in events][:20], name
        assert line["not_delivered"] == [
            item["messageId"]
            for item, (kind, _code) in zip(events, expected, strict=True)
            if kind != "delivered"
        ], name
        kinds: dict[str, int] = {}
        for kind, _code in expected:
            kinds[kind] = kinds.get(kind, 0) + 1
        assert line["outcomes"] == kinds, name
        assert line["events"] == len(outcomes), name
        assert set(line["codes"]) == {code for kind, code in expected if kind != "delivered"}


async def test_delivery_log_follows_structlog_configured_after_the_destination_was_built() -> None:
    destination = CustomerIoDestination(CONFIG, transport=httpx.MockTransport(answer(200)))
    stream = io.StringIO()
    configure_logging(stream)  # the host configures logging after building destinations
    try:
        await destination.deliver([event(1)])
        await destination.aclose()
    finally:
        structlog.reset_defaults()
    [line] = log_lines(stream)
    assert (line["event"], line["message_ids"]) == ("delivery", ["msg-1"])


def test_redaction_processor_scrubs_secret_keys_known_values_and_auth_headers(
    log_stream: io.StringIO,
) -> None:
    register_secret(TRACK_KEY)
    register_secret(APP_KEY)
    log = structlog.get_logger("host")
    log.info(
        f"sending with {TRACK_KEY}",
        authorization=f"Basic {BASIC}",
        headers={"Authorization": f"Bearer {APP_KEY}", "Accept": "application/json"},
        api_key="anything",
        note=f"header was Basic {BASIC}",
        nested=[{"detail": f"key {APP_KEY}"}, (TRACK_KEY, 3)],
        count=3,
    )
    try:
        raise RuntimeError(f"connection refused for {TRACK_KEY}")
    except RuntimeError:
        log.exception("failed")
    first, second = log_lines(log_stream)
    assert_no_secrets("redacted log line", log_stream.getvalue())
    assert first["event"] == f"sending with {REDACTED}"
    assert first["authorization"] == first["api_key"] == REDACTED
    assert first["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert first["note"] == f"header was Basic {REDACTED}"
    assert first["nested"] == [{"detail": f"key {REDACTED}"}, [REDACTED, 3]]
    assert first["count"] == 3
    assert "RuntimeError" in second["exception"] and REDACTED in second["exception"]


def test_redaction_processor_keeps_the_event_dict_it_was_given() -> None:
    class HostContext(dict[str, Any]):
        pass

    event_dict = HostContext(event="hello", token="abc")
    result = redact_secrets(None, "info", event_dict)
    assert result is event_dict
    assert result == {"event": "hello", "token": REDACTED}


def test_config_errors_from_the_destination_keep_fields_and_messages_but_no_secrets() -> None:
    # A key pasted into the wrong field is still a key (region is lowercased first).
    bad = {"tracking_api_key": TRACK_KEY, "api_key": 918273645, "region": TRACK_KEY, "x": TRACK_KEY}
    with pytest.raises(ValidationError) as caught:
        CustomerIoDestination(bad)
    error = caught.value
    fields = {detail["loc"][0]: detail for detail in error.errors()}
    assert set(fields) == {"site_id", "api_key", "region", "x"}
    assert fields["site_id"]["type"] == "missing"
    assert fields["region"]["msg"] == "Input should be 'us' or 'eu'"
    assert fields["x"]["type"] == "extra_forbidden"
    for text in (str(error), repr(error), error.json(), str(error.errors())):
        assert_no_secrets("a config error", text)
        assert "918273645" not in text


def test_destination_accepts_only_a_mapping_or_a_config() -> None:
    with pytest.raises(ValidationError):
        CustomerIoDestination(["not", "a", "config"])  # type: ignore[arg-type]
