"""The inspection API under /_emulator/: what the workspaces hold, the request log, faults.

No Track credentials, loopback callers only, and never a key in an answer:

    GET    /_emulator/workspaces                               site ids, regions, counts
    GET    /_emulator/workspaces/{site_id}                     one workspace's summary
    GET    /_emulator/workspaces/{site_id}/people              {"people": [person, ...]}
    GET    /_emulator/workspaces/{site_id}/people/{identifier} one person (404 if unknown)
    GET    /_emulator/workspaces/{site_id}/anonymous           {"events": [...]} not yet merged
    GET    /_emulator/workspaces/{site_id}/objects             {"objects": [...]} from group calls
    GET    /_emulator/workspaces/{site_id}/deliveries          {"deliveries": [...]} with the
                                                               metrics reported for each
    GET    /_emulator/workspaces/{site_id}/sends               {"sends": [...]} transactional
                                                               emails queued (App API)
    POST   /_emulator/workspaces/{site_id}/reporting-webhooks  post signed reporting webhooks
                                                               about those sends (reporting.py)
    GET    /_emulator/workspaces/{site_id}/snapshot            end state, timing-free (snapshot.py)
    GET    /_emulator/requests                                 {"requests": [...]} Track/App calls,
                                                               each with its fault and "notes"
    GET    /_emulator/faults                                   {"faults": [...]} still pending
    POST   /_emulator/faults                                   add one fault (see faults.py); 422
                                                               {"error", "details"} if invalid
    DELETE /_emulator/faults                                   clear pending faults
    POST   /_emulator/reset                                    forget all data, keep workspaces

A person is `{"cio_id", "identifiers": {"id", "email", "cio_id"}, "attributes",
"created_at", "devices": [{"token", "platform", "last_used", "attributes"}],
"activity": [{"type", "name", "data", "timestamp", "id"}], "anonymous_ids",
"suppressed", "relationships"}`; `{identifier}` is read like a v1 path segment.
An object is `{"object_type_id", "object_id", "attributes", "relationships":
[{"identifiers", "relationship_attributes"}], "anonymous_relationships": [...]}` (the
latter waiting for an identify to claim their anonymous_id); a delivery is
`{"delivery_id", "metrics": [{"metric", "timestamp", "recipient", "reason", "href"}],
"repeats"}`; a send is `{"delivery_id", "queued_at", "transactional_message_id",
"template", "subject", "to", "identifiers", "cio_id", "message_data", "options",
"webhooks": [{"event_id", "metric", "timestamp"}]}`.

`POST .../reporting-webhooks` takes `{"url": "http://127.0.0.1:8084/...", "signing_key":
"...", "events": [{"metric": "opened", "delivery_id": "..."}, ...]}` (or `"metric":
"delivered"` instead of `events`: one for every send), posts each webhook in order
to that loopback URL and answers `{"webhooks": [{"event_id", "metric", "delivery_id",
"status"}, ...]}`; 422 `{"error", "details"}` for a bad order, a non-loopback URL or
an unknown delivery id (nothing is posted then).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from .faults import Fault
from .reporting import WebhookOrder, post_webhooks
from .state import EmulatorState


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        allowed = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        allowed = False
    if not allowed:
        raise HTTPException(403, "the inspection API answers loopback callers only")


def _invalid(what: str, error: ValidationError) -> JSONResponse:
    details = [{"loc": e["loc"], "msg": e["msg"]} for e in error.errors()]
    return JSONResponse({"error": what, "details": details}, 422)


def inspection_router(state: EmulatorState) -> APIRouter:
    router = APIRouter(prefix="/_emulator", dependencies=[Depends(_loopback_only)])

    def site(site_id: str) -> str:
        site_id = unquote(site_id)
        if state.workspace(site_id) is None:
            raise HTTPException(404, f"no workspace {site_id!r}")
        return site_id

    @router.get("/workspaces")
    async def workspaces() -> dict[str, Any]:
        return {"workspaces": [state.workspace_view(w.site_id) for w in state.workspaces]}

    @router.get("/workspaces/{site_id}")
    async def workspace(site_id: str) -> dict[str, Any]:
        return state.workspace_view(site(site_id))

    @router.get("/workspaces/{site_id}/people")
    async def people(site_id: str) -> dict[str, Any]:
        return {"people": state.people_view(site(site_id))}

    @router.get("/workspaces/{site_id}/people/{identifier}")
    async def person(site_id: str, identifier: str) -> dict[str, Any]:
        found = state.person_view(site(site_id), unquote(identifier))
        if found is None:
            raise HTTPException(404, "no such person")
        return found

    @router.get("/workspaces/{site_id}/anonymous")
    async def anonymous(site_id: str) -> dict[str, Any]:
        return {"events": state.anonymous_view(site(site_id))}

    @router.get("/workspaces/{site_id}/objects")
    async def objects(site_id: str) -> dict[str, Any]:
        return {"objects": state.objects_view(site(site_id))}

    @router.get("/workspaces/{site_id}/deliveries")
    async def deliveries(site_id: str) -> dict[str, Any]:
        return {"deliveries": state.deliveries_view(site(site_id))}

    @router.get("/workspaces/{site_id}/sends")
    async def sends(site_id: str) -> dict[str, Any]:
        return {"sends": state.sends_view(site(site_id))}

    @router.post("/workspaces/{site_id}/reporting-webhooks")
    async def reporting_webhooks(site_id: str, request: Request) -> Response:
        site_id = site(site_id)
        try:
            order = WebhookOrder.model_validate_json(await request.body())
            made = state.reporting_webhooks(
                site_id, order.signing_key, order.events, metric=order.metric
            )
        except ValidationError as error:
            return _invalid("invalid reporting webhook order", error)
        except ValueError as error:
            return JSONResponse({"error": str(error), "details": []}, 422)
        return JSONResponse({"webhooks": await post_webhooks(order.url, made)})

    @router.get("/workspaces/{site_id}/snapshot")
    async def snapshot(site_id: str) -> dict[str, Any]:
        return state.snapshot(site(site_id))

    @router.get("/requests")
    async def requests() -> dict[str, Any]:
        return {"requests": state.request_log()}

    @router.get("/faults")
    async def faults() -> dict[str, Any]:
        return {"faults": state.faults.pending()}

    @router.post("/faults")
    async def add_fault(request: Request) -> Response:
        try:
            fault = Fault.model_validate_json(await request.body())
        except ValidationError as error:
            return _invalid("invalid fault", error)
        state.faults.add(fault)
        return JSONResponse({"faults": state.faults.pending()}, 201)

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"faults": []}

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    return router
