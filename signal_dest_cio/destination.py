"""The Customer.io destination a host drives: catalog, config, check, preview, deliver."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from importlib import resources
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ValidationError

from .app_api import AppClient, AppResult, IdType, TransactionalEmail
from .check import CheckReport, check_connection
from .client import TrackClient
from .collector import paused_during
from .config import CustomerIoConfig, config_schema
from .lanes import lane_keys
from .logging import REDACTED, get_logger, redact_with, register_secret, scrub
from .mapping import map_event
from .mappings.engine import Explanation, map_with_rules
from .operations import Mapped, Refused
from .outcomes import Outcome
from .pacing import PacerFactory
from .pipelines import map_pipelines
from .render import render_preview, render_v1
from .routes import render_pipelines_call

KEY = "customer_io"
LOGGED_IDS = 20
RECENT_MAPPINGS = 4096  # a host's round of lane_keys() then deliver(), with room to spare
# deliver() gives its loop a turn after mapping this many events (~10-20 ms of CPU): the
# answers to an earlier call are read as they come, and other work on the loop goes on.
MAPPED_PER_TURN = 200
SECRET_FIELDS = ("tracking_api_key", "api_key", "cdp_api_key", "reporting_webhook_signing_key")


@cache
def catalog_entry() -> dict[str, Any]:
    """The Signal catalog vendor object (catalog/customer_io.json)."""
    text = resources.files("signal_dest_cio").joinpath("catalog/customer_io.json").read_text()
    entry: dict[str, Any] = json.loads(text)
    return entry


def validate_config(raw: Mapping[str, Any]) -> CustomerIoConfig:
    """`CustomerIoConfig.model_validate`, with errors that never quote a secret.

    pydantic puts each refused input in the error, and for a missing field that
    input is the whole config, keys included; hosts show these errors to users.
    """
    try:
        return CustomerIoConfig.model_validate(raw)
    except ValidationError as error:
        given = raw if isinstance(raw, Mapping) else {}
        values = [value for field in SECRET_FIELDS if isinstance(value := given.get(field), str)]
        # As given, and as the model's own normalising (strip, region's lower()) leaves it.
        secrets = frozenset(
            form
            for value in values
            for form in (value, value.strip(), value.lower())
            if form.strip()
        )
        details: list[Any] = [
            {
                "type": detail["type"],
                "loc": detail["loc"],
                "input": _safe_input(detail["loc"], detail["input"], secrets),
                **({"ctx": detail["ctx"]} if "ctx" in detail else {}),
            }
            for detail in error.errors()
        ]
        raise ValidationError.from_exception_data(error.title, details, hide_input=True) from None


def _safe_input(loc: tuple[int | str, ...], value: Any, secrets: frozenset[str]) -> Any:
    if loc and loc[0] in SECRET_FIELDS:
        return REDACTED  # whatever was given for a key, even a number, is not repeated
    return redact_with(value, secrets)


class PreviewRequest(BaseModel):
    method: str
    url: str
    json_body: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "json": self.json_body}


class Preview(BaseModel):
    """What one event becomes, without sending anything; no credentials in it."""

    message_id: str | None
    outcome: Literal["ready", "filtered", "rejected"]
    code: str | None = None
    message: str | None = None
    warnings: list[str] = []
    requests: list[PreviewRequest] = []
    # With mapping rules (SPEC 12): each rule, matched or not, each condition with the
    # value it saw, each action's resolved fields and omitted keys. None without rules.
    mapping: dict[str, Any] | None = None
    sent: Literal[False] = False
    note: str = "a preview: nothing was sent"

    def as_json(self) -> dict[str, Any]:
        # Without rules, exactly the preview there always was.
        data = self.model_dump(exclude={"requests", "mapping", "sent", "note"})
        if self.mapping is not None:
            data.update(sent=self.sent, note=self.note, mapping=self.mapping)
        data["requests"] = [request.as_json() for request in self.requests]
        return data


class CustomerIoDestination:
    """One configured Customer.io workspace; holds one long-lived HTTP client."""

    key = KEY
    config_model = CustomerIoConfig
    # Events may be handed as their JSON text (a host's stored events are): the mapper
    # decodes each once, and what orjson read needs no encoding check (`parse_event`).
    reads_json_text = True

    def __init__(
        self,
        config: CustomerIoConfig | Mapping[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        app_transport: httpx.AsyncBaseTransport | None = None,
        request_pacers: PacerFactory | None = None,
    ) -> None:
        if not isinstance(config, CustomerIoConfig):
            config = validate_config(config)
        self.config = config
        for secret in self._secret_values():
            register_secret(secret)
        self._transport = transport
        self._app_transport = app_transport
        # A host with many processes shares each workspace's budget through this.
        self._request_pacers = request_pacers
        self._client: TrackClient | None = None
        self._app: AppClient | None = None
        # What `lane_keys()` mapped, for the `deliver()` that follows (see `_mapped_once`).
        self._recent: dict[int, tuple[Any, Mapped | Refused]] = {}
        # Which mapper the config asks for, chosen once (the config is frozen): asking
        # the config per event (its rules are a private attribute) cost ~5 us an event.
        self._mapper = self._mapper_for(config)
        self._log = get_logger(site_id=config.workspace, region=config.region.value)

    def __repr__(self) -> str:
        config = self.config
        return (
            f"{type(self).__name__}(site_id={config.workspace!r}, "
            f"region={config.region.value!r}, api={config.api!r})"
        )

    @staticmethod
    def catalog_entry() -> dict[str, Any]:
        return catalog_entry()

    @staticmethod
    def config_schema() -> dict[str, Any]:
        return config_schema()

    def _mapped_once(self, event: Any) -> tuple[Mapped | Refused, bool]:
        """The event's mapping, and whether it was made just now: taken from `lane_keys()`
        when it just mapped this very object (a host asks for an event's lanes, then
        delivers it: one mapping, not two). The event must not change in between; a
        host's stored events do not."""
        recent = self._recent.pop(id(event), None)
        if recent is not None and recent[0] is event:
            return recent[1], False
        return self._map(event), True

    @staticmethod
    def _mapper_for(config: CustomerIoConfig) -> Callable[[Any], Mapped | Refused]:
        if config.pipelines:
            return partial(map_pipelines, config=config)
        rules = config.compiled_mappings
        if rules is not None:
            return partial(map_with_rules, config=config, mappings=rules)
        return partial(map_event, config=config)

    def _map(self, event: Any, explanation: Explanation | None = None) -> Mapped | Refused:
        """The event's mapping; with `explanation`, the rules' trace is noted in it."""
        rules = None if explanation is None else self.config.compiled_mappings
        if rules is None:
            return self._mapper(event)
        return map_with_rules(event, self.config, rules, explanation)

    def preview(self, event: Any, api: Literal["v1", "v2"] | None = None) -> Preview:
        """The requests an event becomes, one per operation, as single calls: the v1
        request (v1), the `/api/v2/entity` item (v2), the Data Pipelines call of its
        type (pipelines). Nothing is sent; no credential is shown."""
        explanation = Explanation() if self.config.compiled_mappings is not None else None
        mapped = self._map(event, explanation)
        rules = explanation.as_json() if explanation is not None else None
        if not isinstance(mapped, Mapped):
            return Preview(
                message_id=mapped.message_id,
                outcome=mapped.kind,
                code=mapped.code,
                message=mapped.message,
                warnings=list(mapped.warnings),
                mapping=rules,
            )
        config = self.config
        if config.pipelines:
            base = config.pipelines_base_url
            requests = [
                render_pipelines_call(op) if op.action == "pipelines" else render_v1(op)
                for op in mapped.operations
            ]
        else:
            base = config.track_base_url
            requests = [render_preview(op, api or config.api) for op in mapped.operations]
        return Preview(
            message_id=mapped.message_id,
            outcome="ready",
            warnings=list(mapped.warnings),
            mapping=rules,
            requests=[
                PreviewRequest(
                    method=r.method,
                    url=(config.app_base_url if r.api == "app" else base) + r.path,
                    json_body=r.json,
                )
                for r in requests
            ],
        )

    def lane_keys(self, event: Any) -> list[str]:
        """The identifiers an event touches (SPEC 4.1): a host keeps the events that share
        one in order. An event that will not be sent touches nothing."""
        mapped = self._map(event)
        recent = self._recent
        recent[id(event)] = (event, mapped)  # the event is held, so its id stays its own
        while len(recent) > RECENT_MAPPINGS:
            del recent[next(iter(recent))]  # the oldest
        return list(lane_keys(mapped)) if isinstance(mapped, Mapped) else []

    async def customer_attributes(self, identifier: str, id_type: IdType = "id") -> AppResult:
        """The person's attributes, devices and identifiers, from the App API (SPEC 10)."""
        return self._scrubbed(await self._app_client().customer_attributes(identifier, id_type))

    async def send_email(self, message: TransactionalEmail | Mapping[str, Any]) -> AppResult:
        """Send a transactional email (SPEC 10); an invalid message raises ValidationError."""
        if not isinstance(message, TransactionalEmail):
            message = TransactionalEmail.model_validate(message)
        return self._scrubbed(await self._app_client().send_email(message))

    def _scrubbed(self, result: AppResult) -> AppResult:
        return result.model_copy(update={"outcome": self._without_secrets(result.outcome)})

    def _app_client(self) -> AppClient:
        if self._app is None:
            self._app = AppClient(self.config, self._app_transport)
        return self._app

    async def check(self) -> CheckReport:
        return await check_connection(self.config, self._transport, self._app_transport)

    async def deliver(self, events: Sequence[Any]) -> list[Outcome]:
        """Map and send events; one outcome per input event, in input order."""
        # Without the collector until the call is over (`paused_during`): collecting as it
        # mapped, sent and packed, it would walk the call's live objects over and over and
        # free nothing.
        return await paused_during(self._deliver(events))

    async def _deliver(self, events: Sequence[Any]) -> list[Outcome]:
        outcomes: list[Outcome | None] = []
        ready: list[Mapped] = []
        positions: list[int] = []
        mapped_here = 0
        for event in events:
            mapped, fresh = self._mapped_once(event)
            if fresh:
                mapped_here += 1
                if mapped_here % MAPPED_PER_TURN == 0:
                    await asyncio.sleep(0)
            if isinstance(mapped, Mapped):
                positions.append(len(outcomes))
                ready.append(mapped)
                outcomes.append(None)
            else:
                outcomes.append(Outcome.from_refused(mapped))
        if ready:
            for position, mapped, outcome in zip(
                positions, ready, await self._track_client().send(ready), strict=True
            ):
                # Which rules made the requests (SPEC 12), for the deliveries API and /live.
                outcomes[position] = (
                    outcome.model_copy(update={"rules": mapped.rules}) if mapped.rules else outcome
                )
        secrets = self._secret_values()
        final = [
            self._without_secrets(outcome, secrets) for outcome in outcomes if outcome is not None
        ]
        self._log_delivery(final)
        return final

    def _secret_values(self) -> frozenset[str]:
        """The keys, and the Basic credentials as they travel (base64 hides nothing).

        Computed when needed rather than kept, so no attribute holds them in clear.
        """
        config = self.config
        values = set(config.secret_values())
        if config.site_id is not None and config.tracking_api_key is not None:
            track = f"{config.site_id}:{config.tracking_api_key.get_secret_value()}"
            values.add(base64.b64encode(track.encode()).decode())
        if config.cdp_api_key is not None:
            cdp = f"{config.cdp_api_key.get_secret_value()}:"
            values.add(base64.b64encode(cdp.encode()).decode())
        return frozenset(values)

    def _without_secrets(self, outcome: Outcome, secrets: frozenset[str] | None = None) -> Outcome:
        """Messages quote Customer.io's error bodies; a relay could echo a key back."""
        if not outcome.message:
            return outcome
        message = scrub(outcome.message, self._secret_values() if secrets is None else secrets)
        return (
            outcome
            if message == outcome.message
            else outcome.model_copy(update={"message": message})
        )

    def _log_delivery(self, outcomes: list[Outcome]) -> None:
        kinds: dict[str, int] = {}
        for outcome in outcomes:
            kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        # Every id in the line would make a batch of 1,000 a 45 KB line: the first
        # LOGGED_IDS, and every event that was not delivered (those are the ones looked for).
        self._log.info(
            "delivery",
            api=self.config.api,
            events=len(outcomes),
            outcomes=kinds,
            message_ids=[outcome.message_id for outcome in outcomes[:LOGGED_IDS]],
            not_delivered=[o.message_id for o in outcomes if o.kind != "delivered"],
            codes=sorted({o.code for o in outcomes if o.kind != "delivered"}),
        )

    def _track_client(self) -> TrackClient:
        if self._client is None:
            self._client = TrackClient(
                self.config, self._transport, self._request_pacers, self._app_transport
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._app is not None:
            await self._app.aclose()
            self._app = None

    async def __aenter__(self) -> CustomerIoDestination:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
