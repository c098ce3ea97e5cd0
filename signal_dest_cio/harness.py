"""The test-event harness: deliver events one at a time and show what happened on the wire.

For each event: the requests really sent (no credentials), each response status,
the outcome, and, when the target is the local emulator, the person as it now
stands there (read through the emulator's HTTP inspection API, nothing imported).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from .config import CustomerIoConfig
from .destination import CustomerIoDestination
from .identity import resolve_person
from .outcomes import Outcome

SAMPLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as sent and the status that came back (None: no response)."""

    method: str
    url: str
    body: Any
    status: int | None


@dataclass(slots=True)
class TestEventResult:
    message_id: str | None
    outcome: Outcome
    exchanges: list[Exchange] = field(default_factory=list)
    person: dict[str, Any] | None = None
    # With mapping rules (SPEC 12): each rule, matched or not, each condition with the
    # value it saw, each action's resolved fields and what was omitted.
    mapping: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        data = {
            "message_id": self.message_id,
            "outcome": self.outcome.model_dump(mode="json"),
            "requests": [
                {"method": e.method, "url": e.url, "json": e.body, "status": e.status}
                for e in self.exchanges
            ],
            "person": self.person,
        }
        if self.mapping is not None:
            data["mapping"] = self.mapping
        return data


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and keeps every exchange; headers (credentials) are not kept."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = _decode(request.content)
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            self.exchanges.append(Exchange(request.method, str(request.url), body, None))
            raise
        self.exchanges.append(
            Exchange(request.method, str(request.url), body, response.status_code)
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def sample_event(kind: str, user_id: str, message_id: str | None = None) -> dict[str, Any]:
    """A realistic event of each type, for trying a config without writing one."""
    base: dict[str, Any] = {
        "type": kind,
        "userId": user_id,
        "messageId": message_id or f"test-{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    samples: dict[str, dict[str, Any]] = {
        "identify": {"traits": {"email": f"{user_id}@example.com", "plan": "trial"}},
        "track": {"event": "feature.used", "properties": {"feature": "dashboards"}},
        "page": {"name": "Pricing", "properties": {"url": "https://example.com/pricing"}},
        "screen": {"name": "Settings", "anonymousId": f"anon-{user_id}"},
        "group": {"groupId": "acme-inc", "traits": {"name": "Acme Inc", "plan": "team"}},
        "alias": {"previousId": f"legacy-{user_id}"},
    }
    return base | samples[kind]


def _person_key(event: Any) -> str | None:
    """The identifier the event is about, to look the person up afterwards."""
    if not isinstance(event, dict):
        return None
    user_id = event.get("userId", event.get("user_id"))
    if isinstance(user_id, (str, int)) and str(user_id).strip():
        return str(user_id).strip()
    found = resolve_person(
        None,
        event.get("traits") or {},
        (event.get("context") or {}).get("traits") or {},
        event.get("properties") or {},
    )
    return found.value if found else None


def _emulator_base(config: CustomerIoConfig) -> str:
    """Where the emulator's inspection API is: the host the destination sends to."""
    if config.pipelines:
        return config.pipelines_base_url.removesuffix("/v1")
    return config.track_base_url


async def _emulator_person(
    http: httpx.AsyncClient, config: CustomerIoConfig, identifier: str
) -> dict[str, Any] | None:
    """The person as the emulator holds it; None against anything else."""
    if config.site_id is None:
        return None
    site, person = quote(config.site_id, safe=""), quote(identifier, safe="")
    path = f"/_emulator/workspaces/{site}/people/{person}"
    try:
        response = await http.get(_emulator_base(config) + path)
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class TestEventSession:
    """One destination and one recorder, for sending events one at a time."""

    def __init__(
        self, config: CustomerIoConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._inner = transport or httpx.AsyncHTTPTransport()
        self._recorder = RecordingTransport(self._inner)
        self._destination = CustomerIoDestination(config, transport=self._recorder)
        self._inspect = httpx.AsyncClient(transport=self._inner, timeout=config.timeout_seconds)

    async def send(self, event: Any) -> TestEventResult:
        """Deliver one event; its own requests, their statuses, and the person afterwards."""
        self._recorder.exchanges = []
        [outcome] = await self._destination.deliver([event])
        result = TestEventResult(outcome.message_id, outcome, self._recorder.exchanges)
        if self.config.compiled_mappings is not None:  # the rules' trace (pure: sends nothing)
            result.mapping = self._destination.preview(event).mapping
        key = _person_key(event)
        if key is not None and outcome.kind == "delivered":
            result.person = await _emulator_person(self._inspect, self.config, key)
        return result

    async def __aenter__(self) -> TestEventSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._destination.aclose()
        await self._inspect.aclose()


async def run_test_events(
    config: CustomerIoConfig,
    events: Iterable[Any],
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[TestEventResult]:
    """Deliver each event on its own, so every request and status is its own."""
    async with TestEventSession(config, transport) as session:
        return [await session.send(event) for event in events]
