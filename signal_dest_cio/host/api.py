"""The host's HTTP routes: catalog and install (SPEC 6), integrations, deliveries, ingestion."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from .auth import SignatureError, bearer_matches, verify_signature
from .errors import ApiError
from .guard import EVENTS_SOURCE
from .guard import MAX_EVENTS_BODY_BYTES as MAX_BODY_BYTES
from .intake import parse_json
from .service import Host

SAMPLE_TYPES = Literal["identify", "track", "page", "screen", "group", "alias"]
DeliveryStatus = Literal["pending", "delivered", "filtered", "dead_lettered"]
Name = Annotated[str, Field(min_length=1, max_length=200)]

_bearer = HTTPBearer(auto_error=False, description="the admin token (SIGNAL_ADMIN_TOKEN)")


def host_of(request: Request) -> Host:
    host: Host = request.app.state.host
    return host


async def clean_json_body(request: Request) -> None:
    """Refuse bodies that JSON could parse but could never be answered with (NaN, lone
    surrogates): whatever is stored is shown again, and must render."""
    body = await request.body()
    if not body:
        return
    try:
        data = parse_json(body)
        json.dumps(data, ensure_ascii=False).encode()
    except (ValueError, UnicodeError) as error:
        raise ApiError(422, "invalid_json", f"the body is not usable JSON: {error}") from None
    except ApiError as error:  # too deep, NaN, a number out of range
        raise ApiError(422, "invalid_json", error.message) from None


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token: str = request.app.state.admin_token
    header = f"Bearer {credentials.credentials}" if credentials else None
    if not bearer_matches(header, token):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <admin token>")


class InstallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    variant: Annotated[str, Field(max_length=100)] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    delivery_mode: Literal["server_side"] = "server_side"


class RevisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] = Field(
        description="settings to change; left-out keys (and secrets sent back as ********) "
        "keep their current values"
    )
    base_revision: Annotated[int, Field(ge=1, le=2**31)] | None = Field(
        default=None,
        description="the revision this change builds on (or send If-Match); a stale one "
        "is a 409 naming the current revision",
    )


class TestEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: SAMPLE_TYPES = "track"
    user_id: Annotated[str, Field(min_length=1, max_length=150)] = "test-user-1"
    event: dict[str, Any] | None = Field(
        default=None, description="an event to send instead of the sample"
    )


DeliveryId = Annotated[int, Field(ge=1, le=2**62)]
MessageId = Annotated[str, Field(min_length=1, max_length=255)]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_ids: Annotated[list[DeliveryId], Field(max_length=1000)] | None = None
    message_ids: Annotated[list[MessageId], Field(max_length=1000)] | None = None


HostDep = Annotated[Host, Depends(host_of)]
admin = APIRouter(prefix="/v1/admin", dependencies=[Depends(require_admin)], tags=["admin"])
writes = [Depends(clean_json_body)]


@admin.get("/integration-catalog")
def list_catalog(host: HostDep) -> dict[str, Any]:
    return {"data": host.catalog()}


@admin.get("/integration-catalog/{key}")
def show_catalog_entry(key: str, host: HostDep) -> dict[str, Any]:
    return host.catalog_entry(key)


@admin.post("/integration-catalog/{key}/install", status_code=201, dependencies=writes)
async def install(
    key: str,
    body: InstallRequest,
    host: HostDep,
    verify: Annotated[
        bool | None,
        Query(
            description="left out: run the connection check and report a failure under "
            "`warnings`; true: refuse a failing config (422); false: skip the check"
        ),
    ] = None,
    allow_duplicate: Annotated[
        bool, Query(description="install even if the same destination and config exist")
    ] = False,
) -> dict[str, Any]:
    return await host.install(
        key,
        name=body.name,
        variant=body.variant,
        config=body.config,
        delivery_mode=body.delivery_mode,
        verify=verify,
        allow_duplicate=allow_duplicate,
    )


@admin.get("/integrations")
def list_integrations(host: HostDep) -> dict[str, Any]:
    return {"data": [host.views.integration(i) for i in host.store.list_integrations()]}


@admin.get("/integrations/{integration_id}")
def show_integration(integration_id: str, host: HostDep, response: Response) -> dict[str, Any]:
    view = host.views.integration(host.integration(integration_id))
    response.headers["ETag"] = f'"{view["revision"]["number"]}"'  # for If-Match on revisions
    return view


@admin.delete("/integrations/{integration_id}")
def delete_integration(integration_id: str, host: HostDep) -> dict[str, Any]:
    """Deleted and kept as a record: pending deliveries are dead-lettered, nothing lost."""
    return host.delete(integration_id)


@admin.get("/integrations/{integration_id}/revisions")
def list_revisions(integration_id: str, host: HostDep) -> dict[str, Any]:
    return {"data": host.revisions(integration_id)}


@admin.post("/integrations/{integration_id}/revisions", status_code=201, dependencies=writes)
async def new_revision(
    integration_id: str,
    body: RevisionRequest,
    host: HostDep,
    response: Response,
    verify: bool = False,
    if_match: Annotated[str | None, Header(max_length=64)] = None,
) -> dict[str, Any]:
    base = body.base_revision
    if if_match is not None:
        from_header = _revision_tag(if_match)
        if base is not None and base != from_header:
            raise ApiError(
                422, "invalid_request", "If-Match and base_revision name different revisions"
            )
        base = from_header
    view = await host.new_revision(integration_id, body.config, verify, base)
    response.headers["ETag"] = f'"{view["revision"]["number"]}"'
    return view


def _revision_tag(value: str) -> int:
    """If-Match as a revision number: `3`, `"3"` or `W/"3"`."""
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isascii() or not tag.isdigit() or len(tag) > 9 or int(tag) < 1:
        raise ApiError(
            422,
            "invalid_request",
            'If-Match must name a revision number, e.g. If-Match: "3"',
            [{"field": "header.if-match", "code": "invalid", "message": "not a revision"}],
        )
    return int(tag)


@admin.post("/integrations/{integration_id}/enable")
def enable(integration_id: str, host: HostDep) -> dict[str, Any]:
    return host.set_enabled(integration_id, True)


@admin.post("/integrations/{integration_id}/disable")
def disable(integration_id: str, host: HostDep) -> dict[str, Any]:
    return host.set_enabled(integration_id, False)


@admin.post("/integrations/{integration_id}/resume")
def resume(integration_id: str, host: HostDep) -> dict[str, Any]:
    return host.resume(integration_id)


@admin.get("/integrations/{integration_id}/deliveries")
def list_deliveries(
    integration_id: str,
    host: HostDep,
    status: DeliveryStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    return host.deliveries(integration_id, status, cursor, limit)


@admin.post("/integrations/{integration_id}/send-test-event", dependencies=writes)
async def send_test_event(
    integration_id: str, host: HostDep, body: TestEventRequest | None = None
) -> dict[str, Any]:
    body = body or TestEventRequest()
    return await host.send_test_event(integration_id, body.type, body.user_id, body.event)


@admin.post("/integrations/{integration_id}/replay", dependencies=writes)
def replay(integration_id: str, host: HostDep, body: ReplayRequest | None = None) -> dict[str, Any]:
    body = body or ReplayRequest()
    return host.replay(integration_id, body.delivery_ids, body.message_ids)


ingest = APIRouter(tags=["ingestion"])

_ANY_EVENTS = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "one canonical event, an array of them, or {batch: [...]}",
                    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
                }
            }
        },
    },
    "parameters": [
        {"name": "X-Timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": "X-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
    ],
}


@ingest.post("/v1/events", status_code=202, openapi_extra=_ANY_EVENTS)
async def post_events(request: Request, host: HostDep) -> JSONResponse:
    """Accept signed events; each is stored before this answers (202 with message ids)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"a request is at most {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"a request is at most {MAX_BODY_BYTES} bytes")
    try:
        verify_signature(
            request.app.state.signing_secret,
            request.headers.get("x-timestamp"),
            request.headers.get("x-signature"),
            body,
            now_ms=int(host.now() * 1000),
        )
    except SignatureError as error:
        request.app.state.ingest_counters.refusal(
            EVENTS_SOURCE, ApiError(401, error.code, error.message)
        )
        raise ApiError(401, error.code, error.message) from None
    # A client's retry of this call (same key, or same signed body and time) queues nothing
    # new: events without a messageId get ids derived from it.
    key = request.headers.get("idempotency-key")
    request_key = f"key:{key}" if key else f"sig:{request.headers.get('x-signature', '')}"
    counters = request.app.state.ingest_counters  # GET /metrics
    try:
        answer = host.ingest(body, request_key)
    except ApiError as error:
        counters.refusal(EVENTS_SOURCE, error)
        raise
    counters.accepted(EVENTS_SOURCE, answer)
    return JSONResponse(answer, status_code=202)
