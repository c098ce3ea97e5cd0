"""One region's Track API (v1 and v2) and region lookup, over shared state; the App API
(`app_api.py`) and the Data Pipelines API (`pipelines.py`) join it on the same app.

Authentication is HTTP Basic `site_id:track_api_key`. A workspace of the other
region is refused the way Customer.io refuses it: an EU workspace calling the US
host gets a 307 to the EU host (same path), a US workspace calling the EU host a
401. `GET /api/v1/accounts/region` answers from either host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..config import TRACK_URLS, Region
from . import notes
from .app_api import app_api
from .inspection import inspection_router
from .middleware import NOTE_KEY, EmulatorMiddleware
from .pipelines import pipelines
from .records import Ref, RegionName, Workspace
from .state import EmulatorState
from .v2 import apply_item
from .validation import (
    MAX_BATCH_BYTES,
    MAX_ITEM_BYTES,
    Problem,
    basic_credentials,
    check_activity,
    check_attributes,
    check_device,
    check_identifier,
    check_metric,
    check_timestamp,
    identifiers_ref,
    object_key,
    path_ref,
)

OK: dict[str, Any] = {}  # Customer.io answers success with an empty object
# Identify body keys that are not attributes, so not held to attribute limits.
_INSTRUCTIONS = ("_timestamp", "_update", "cio_relationships", "anonymous_id")


class Answer(Exception):
    """Stop handling a request and answer this response (auth failures, bad bodies)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def meta_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"meta": {"error": message}}, status_code=status)


def v1_problems(problems: list[Problem]) -> Answer:
    return Answer(JSONResponse({"meta": {"errors": [p.text() for p in problems]}}, 400))


def v2_errors(problems: list[Problem], status: int = 400) -> JSONResponse:
    errors = [{"reason": p.reason, "field": p.field, "message": p.message} for p in problems]
    return JSONResponse({"errors": errors}, status_code=status)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would take NaN and Infinity


async def _json_body(request: Request, *, v2: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except ValueError:
        problem = Problem("body", "invalid", "request body is not valid JSON")
        raise Answer(v2_errors([problem]) if v2 else meta_error(problem.message)) from None


async def _v1_object(request: Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise Answer(meta_error("request body must be a JSON object"))
    return body


def _v1_ref(identifier: str, field: str = "identifier") -> Ref:
    value = unquote(identifier)
    problems = check_identifier(value, field)
    if problems:
        raise v1_problems(problems)
    return path_ref(value)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated Track API caller: their workspace, and the state it lives in."""

    workspace: Workspace
    state: EmulatorState

    @property
    def site_id(self) -> str:
        return self.workspace.site_id


@dataclass(frozen=True, slots=True)
class RegionHost:
    """What one region's app knows: the shared state, its region, the other region's URL."""

    state: EmulatorState
    region: RegionName
    other_region_url: str


def _host(request: Request) -> RegionHost:
    host: RegionHost = request.app.state.emulator
    return host


def authenticated(request: Request) -> Caller:
    """HTTP Basic site_id:track_api_key, whichever region the workspace is in."""
    state = _host(request).state
    given = basic_credentials(request.headers.get("authorization", ""))
    workspace = state.workspace(given[0]) if given else None
    if workspace is None or given is None or workspace.track_api_key != given[1]:
        raise Answer(meta_error("Unauthorized request", 401))
    note = request.scope.get(NOTE_KEY)
    if isinstance(note, dict):
        note["site_id"] = workspace.site_id
    return Caller(workspace, state)


def authenticated_here(request: Request) -> Caller:
    """As `authenticated`, and the workspace must be in this host's region."""
    caller = authenticated(request)
    host = _host(request)
    if caller.workspace.region == host.region:
        return caller
    if caller.workspace.region == "eu":  # Customer.io sends EU workspaces to the EU host
        query = request.url.query
        location = host.other_region_url + request.scope["path"] + (f"?{query}" if query else "")
        raise Answer(Response(status_code=307, headers={"Location": location}))
    raise Answer(meta_error("Unauthorized request", 401))


AnyRegion = Annotated[Caller, Depends(authenticated)]
Here = Annotated[Caller, Depends(authenticated_here)]
track = APIRouter()


def create_app(state: EmulatorState, region: RegionName, *, other_region_url: str) -> FastAPI:
    """The emulator for one region; both regions' apps share `state`."""
    app = FastAPI(
        title=f"Customer.io Track API emulator ({region.upper()})",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = RegionHost(state, region, other_region_url.rstrip("/"))
    app.add_middleware(EmulatorMiddleware, state=state, region=region)
    app.add_exception_handler(Answer, _answer)
    app.include_router(inspection_router(state))
    app.include_router(track)
    app.include_router(app_api)
    app.include_router(pipelines)
    return app


async def _answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Answer)
    return exc.response


@track.get("/api/v1/accounts/region")
async def account_region(caller: AnyRegion) -> Response:
    workspace = caller.workspace
    return JSONResponse(
        {
            "url": TRACK_URLS[Region(workspace.region)],
            "region": workspace.region,
            "environment_id": caller.state.environment_id(workspace.site_id),
        }
    )


@track.put("/api/v1/customers/{identifier}")
async def identify(identifier: str, request: Request, caller: Here) -> Response:
    ref = _v1_ref(identifier)
    body = await _v1_object(request)
    attributes = {k: v for k, v in body.items() if k not in _INSTRUCTIONS}
    problems = check_attributes(attributes, "attributes")
    problems += check_timestamp(body.get("_timestamp"), "_timestamp")
    if body.get("anonymous_id") is not None:
        problems += check_identifier(body["anonymous_id"], "anonymous_id")
    links = _v1_relationships(body.get("cio_relationships"), problems)
    if problems:
        raise v1_problems(problems)
    caller.state.identify(
        caller.site_id,
        ref,
        body,
        timestamp=body.get("_timestamp"),
        anonymous_id=body.get("anonymous_id"),
        update_only=body.get("_update") is True,
    )
    add = (body.get("cio_relationships") or {}).get("action") != "delete_relationships"
    for key, extra in links:
        caller.state.relate(caller.site_id, ref, key, extra, add=add)
    return JSONResponse(OK)


@track.delete("/api/v1/customers/{identifier}")
async def delete(identifier: str, caller: Here) -> Response:
    caller.state.delete_person(caller.site_id, _v1_ref(identifier))
    return JSONResponse(OK)


@track.post("/api/v1/customers/{identifier}/suppress")
async def suppress(identifier: str, caller: Here) -> Response:
    caller.state.set_suppressed(caller.site_id, _v1_ref(identifier), True)
    return JSONResponse(OK)


@track.post("/api/v1/customers/{identifier}/unsuppress")
async def unsuppress(identifier: str, caller: Here) -> Response:
    caller.state.set_suppressed(caller.site_id, _v1_ref(identifier), False)
    return JSONResponse(OK)


@track.put("/api/v1/customers/{identifier}/devices")
async def add_device(identifier: str, request: Request, caller: Here) -> Response:
    ref = _v1_ref(identifier)
    body = await _v1_object(request)
    device = body.get("device")
    problems = check_device(device, "device", "id", need_platform=True)
    if problems:
        raise v1_problems(problems)
    assert isinstance(device, dict)
    caller.state.add_device(
        caller.site_id,
        ref,
        device["id"],
        device["platform"],
        last_used=device.get("last_used"),
        attributes=device.get("attributes"),
    )
    return JSONResponse(OK)


@track.delete("/api/v1/customers/{identifier}/devices/{token}")
async def delete_device(identifier: str, token: str, caller: Here) -> Response:
    caller.state.delete_device(caller.site_id, _v1_ref(identifier), unquote(token))
    return JSONResponse(OK)


@track.post("/api/v1/customers/{identifier}/events")
async def person_event(identifier: str, request: Request, caller: Here) -> Response:
    ref = _v1_ref(identifier)
    _record_v1_activity(caller, ref, await _v1_object(request))
    return JSONResponse(OK)


@track.post("/api/v1/events")
async def anonymous_event(request: Request, caller: Here) -> Response:
    _record_v1_activity(caller, None, await _v1_object(request))
    return JSONResponse(OK)


@track.post("/api/v1/merge_customers")
async def merge(request: Request, caller: Here) -> Response:
    body = await _v1_object(request)
    primary, _, problems = identifiers_ref(body.get("primary"), "primary")
    secondary, _, more = identifiers_ref(body.get("secondary"), "secondary")
    if problems or more:
        raise v1_problems(problems + more)
    assert primary is not None and secondary is not None
    caller.state.merge(caller.site_id, primary, secondary)
    return JSONResponse(OK)


@track.post("/api/v1/metrics")
async def report_metric(request: Request, caller: Here) -> Response:
    """A delivery's metric, recorded on that delivery (see `objects.py`).

    Customer.io takes this call without credentials and finds the workspace from the
    delivery id; the emulator has no deliveries of its own to look in, so it records
    the metric in the workspace that calls, and asks for that workspace's key.
    """
    body = await _v1_object(request)
    problems = check_metric(body)
    if problems:
        raise v1_problems(problems)
    details = {k: str(body[k]) for k in ("recipient", "reason", "href") if body.get(k) is not None}
    caller.state.record_metric(
        caller.site_id, body["delivery_id"], body["metric"], body.get("timestamp"), **details
    )
    return JSONResponse(OK)


@track.post("/api/v2/entity")
async def entity(request: Request, caller: Here) -> Response:
    raw = await request.body()
    if len(raw) > MAX_ITEM_BYTES:
        problem = Problem("body", "too_large", f"request is over {MAX_ITEM_BYTES} bytes")
        return v2_errors([problem], 413)
    problems = apply_item(caller.state, caller.site_id, await _json_body(request, v2=True))
    return v2_errors(problems) if problems else JSONResponse(OK)


@track.post("/api/v2/batch")
async def batch(request: Request, caller: Here) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BATCH_BYTES:
        problem = Problem("batch", "too_large", f"request is over {MAX_BATCH_BYTES} bytes")
        return v2_errors([problem], 413)
    body = await _json_body(request, v2=True)
    items = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        problem = Problem("batch", "required", "must be a non-empty list of operations")
        return v2_errors([problem])
    errors = []
    for index, item in enumerate(items):
        with notes.about(f"batch[{index}]"):
            problems = apply_item(caller.state, caller.site_id, item)
        errors += [
            {"batch_index": index, "reason": p.reason, "field": p.field, "message": p.message}
            for p in problems
        ]
    return JSONResponse({"errors": errors}, 207) if errors else JSONResponse(OK)


def _record_v1_activity(caller: Caller, ref: Ref | None, body: dict[str, Any]) -> None:
    problems = check_activity(body, data_field="data")
    if problems:
        raise v1_problems(problems)
    caller.state.record_activity(
        caller.site_id,
        ref,
        type=body.get("type") or "event",
        name=body["name"],
        data=body.get("data"),
        timestamp=body.get("timestamp"),
        event_id=body.get("id"),
        anonymous_id=body.get("anonymous_id"),
    )


def _v1_relationships(
    value: Any, problems: list[Problem]
) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """The objects a v1 identify's `cio_relationships` names; problems appended."""
    if value is None:
        return []
    entries = value.get("relationships") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        problems.append(Problem("cio_relationships", "invalid", "needs a relationships list"))
        return []
    links = []
    for index, entry in enumerate(entries):
        field = f"cio_relationships.relationships[{index}]"
        identifiers = entry.get("identifiers") if isinstance(entry, dict) else None
        key, found = object_key(identifiers, f"{field}.identifiers")
        problems.extend(found)
        if key is not None and isinstance(entry, dict):
            links.append((key, dict(entry.get("relationship_attributes") or {})))
    return links
