"""Destination instances per integration revision, and their results as plain JSON."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import httpx

from ..jsoncodec import loads
from ..logging import redact_with
from .configs import remember_secrets, secret_values
from .records import Delivery, Integration, Revision
from .store_api import HostStore, PacerFactory

TransportFactory = Callable[[], httpx.AsyncBaseTransport]


class DestinationPool:
    """One destination instance (so one HTTP client) per integration revision."""

    def __init__(
        self,
        store: HostStore,
        classes: dict[str, Any],
        secret_fields: dict[str, frozenset[str]],
        transport_factory: TransportFactory | None = None,
    ) -> None:
        self.store = store
        self.classes = classes
        self.secret_fields = secret_fields
        self.transport_factory = transport_factory
        self._live: dict[str, tuple[int, Any]] = {}
        # Many processes on one database share each workspace's request budget through
        # it; a destination that takes `request_pacers` is handed the store's.
        self.request_pacers: PacerFactory | None = store.request_pacers()

    @staticmethod
    def handed(destination: Any, delivery: Delivery) -> Any:
        """What a destination is handed for a delivery, to `lane_keys` and `deliver`: the
        stored JSON text, for one that reads JSON text itself (`reads_json_text`: it
        decodes the event once, in its mapper); the decoded event, for any other."""
        if getattr(destination, "reads_json_text", False) is True:
            return delivery.source
        return delivery.event

    def lane_keys(self, destination: Any, event: Any) -> list[str]:
        """The identifiers an event touches (SPEC 4.1); a destination that cannot say
        (no `lane_keys`) gets the canonical ones, so its events still keep their order."""
        try:
            found = destination.lane_keys(event)
            return [str(key) for key in found]
        except AttributeError:
            return canonical_lane_keys(event)
        except Exception:  # a destination that fails here must not stop delivery
            return canonical_lane_keys(event)

    def build(self, destination: str, config: dict[str, Any], transport: Any | None = None) -> Any:
        """A fresh instance; the caller closes it. `transport` overrides the Track transport."""
        remember_secrets(config, self.secret_fields[destination])
        options: dict[str, Any] = {}
        if self.transport_factory is not None:
            options = {
                "transport": self.transport_factory(),
                "app_transport": self.transport_factory(),
            }
        if transport is not None:
            options["transport"] = transport
        cls = self.classes[destination]
        if self.request_pacers is not None and _accepts(cls, "request_pacers"):
            options["request_pacers"] = self.request_pacers
        return cls(config, **options)

    async def current(self, integration: Integration) -> tuple[Any, Revision]:
        revision = self.store.get_revision(integration.id, integration.revision)
        assert revision is not None
        cached = self._live.get(integration.id)
        if cached is not None and cached[0] == revision.number:
            return cached[1], revision
        if cached is not None:
            await cached[1].aclose()
        instance = self.build(integration.destination, revision.config)
        self._live[integration.id] = (revision.number, instance)
        return instance, revision

    def secrets_of(self, destination: str, config: dict[str, Any]) -> frozenset[str]:
        return secret_values(config, self.secret_fields[destination])

    async def aclose(self) -> None:
        live, self._live = self._live, {}
        for _, instance in live.values():
            await instance.aclose()


def _accepts(cls: Any, name: str) -> bool:
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def outcome_dict(outcome: Any, secrets: frozenset[str]) -> dict[str, Any]:
    """A destination's outcome as plain JSON, with any secret value scrubbed."""
    scrubbed: dict[str, Any] = redact_with(plain(outcome), secrets)
    return scrubbed


def preview_requests(destination: Any, event: Any, secrets: frozenset[str]) -> list[Any] | None:
    """The vendor requests an event becomes (the destination's preview), redacted."""
    try:
        data = plain(destination.preview(event))
        requests: list[Any] = redact_with(list(data.get("requests") or []), secrets)
    except Exception:  # a preview is for people; its failure must not stop delivery
        return None
    return requests


def rule_trace(destination: Any, event: Any, secrets: frozenset[str]) -> Any:
    """What the destination's mapping rules made of an event (SPEC 12: each rule, matched
    or not, with what each condition saw), redacted; None without rules."""
    try:
        data = plain(destination.preview(event))
    except Exception:  # a preview is for people; its failure must not stop a test event
        return None
    return redact_with(data.get("mapping"), secrets)


def plain(value: Any) -> dict[str, Any]:
    """A destination's result (a pydantic model, something with `as_json`, a mapping) as a dict."""
    if hasattr(value, "as_json"):
        data: dict[str, Any] = value.as_json()
    elif hasattr(value, "model_dump"):
        data = value.model_dump(mode="json")
    else:
        data = dict(value)
    return data


def canonical_lane_keys(event: Any) -> list[str]:
    """userId, anonymousId, previousId and emails of a canonical event (or of its JSON
    text), as lane keys."""
    if isinstance(event, str):
        try:
            event = loads(event)[0]
        except (ValueError, RecursionError):
            return []
    if not isinstance(event, dict):
        return []
    keys: list[str] = []
    for name, prefix in (
        ("userId", "p:"),
        ("user_id", "p:"),
        ("previousId", "p:"),
        ("previous_id", "p:"),
        ("anonymousId", "a:"),
        ("anonymous_id", "a:"),
    ):
        value = event.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            keys.append(prefix + str(value).strip())
    for where in ("traits", "properties"):
        holder = event.get(where)
        if isinstance(holder, dict) and isinstance(holder.get("email"), str):
            keys.append("p:" + holder["email"].strip().lower())
    return keys
