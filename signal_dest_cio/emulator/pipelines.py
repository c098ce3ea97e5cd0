"""The Data Pipelines API (`cdp[-eu].customer.io/v1`), applied to the same workspace state
as Track API calls, so the same fault-equivalence and demo machinery works (SPEC 8).

- Auth: HTTP Basic with a workspace's CDP API key as user name, empty password; a
  workspace of the other region is a 401 (the CDP hosts are per region).
- `POST /v1/identify|track|page|screen|group|alias` take one call, `POST /v1/batch`
  `{"batch": [...]}` (no aliases). A call is at most 32 KB and a batch 500 KB.
- With `X-Strict-Mode: 1` a bad call is a 400 `{"meta": {"errors": [...]}}` and nothing
  of the request is applied; without it Customer.io answers 200 and drops what it
  cannot use, and so does the emulator (each dropped call is a note in the request log).
- What a call does: identify -> a person identify (`traits` as attributes, the
  `anonymousId` claimed); track -> an event, or for a semantic event its action (User
  Deleted, User Suppressed / Unsuppressed, Device Created or Updated, Device Deleted,
  Application Installed / Opened / Uninstalled with `context.device`, Object Deleted,
  Relationship Deleted, Report Delivery Event); page / screen -> page and screen
  views; group -> an object identify related to the person; alias -> a merge.
  `userId` is read like a v1 path identifier (`cio_...`, an email, else an id).
  `messageId` is the dedup key of events, pages and screens.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from . import notes
from .middleware import NOTE_KEY
from .records import Ref, Workspace
from .state import EmulatorState
from .validation import MAX_BATCH_BYTES, MAX_ITEM_BYTES, basic_credentials, path_ref

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
LIFECYCLE = {
    "User Deleted": "delete",
    "User Suppressed": "suppress",
    "User Unsuppressed": "unsuppress",
}
DEVICE_EVENTS = {"Application Installed", "Application Opened"}

pipelines = APIRouter()


class CallProblem(Exception):
    pass


def _workspace(request: Request) -> tuple[EmulatorState, Workspace] | Response:
    host = request.app.state.emulator
    state: EmulatorState = host.state
    given = basic_credentials(request.headers.get("authorization", ""))
    found = state.workspace_for_cdp_key(given[0]) if given else None
    if found is None or found.region != host.region:
        return JSONResponse({"meta": {"errors": ["Unauthorized"]}}, status_code=401)
    note = request.scope.get(NOTE_KEY)
    if isinstance(note, dict):
        note["site_id"] = found.site_id  # for the request log: the workspace, never the key
    return state, found


def _refuse(errors: list[str]) -> JSONResponse:
    return JSONResponse({"meta": {"errors": errors}}, status_code=400)


async def _handle(request: Request, kind: str | None) -> Response:
    found = _workspace(request)
    if isinstance(found, Response):
        return found
    state, workspace = found
    strict = request.headers.get("x-strict-mode") == "1"
    body = await request.body()
    limit = MAX_BATCH_BYTES if kind is None else MAX_ITEM_BYTES
    problems: list[str] = []
    calls: list[Any] = []
    if len(body) > limit:
        problems.append(f"the request is over {limit} bytes")
    else:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
            problems.append("the body is not JSON")
        if kind is None:
            batch = data.get("batch") if isinstance(data, dict) else None
            if not isinstance(batch, list):
                problems.append("batch: must be a list of calls")
            else:
                calls = batch
        else:
            calls = [{**data, "type": kind} if isinstance(data, dict) else data]
    checked = []
    for index, call in enumerate(calls):
        where = f"batch[{index}]: " if kind is None else ""
        try:
            checked.append(_check(call, in_batch=kind is None))
        except CallProblem as refused:
            problems.append(where + str(refused))
    if problems:
        if strict:
            return _refuse(problems)
        for text in problems:
            notes.note(f"dropped: {text}")
    for call in checked:
        _apply(state, workspace.site_id, call)
    return JSONResponse({})


def _check(call: Any, *, in_batch: bool) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise CallProblem("a call must be an object")
    kind = call.get("type")
    if kind not in CALL_TYPES or (in_batch and kind == "alias"):
        raise CallProblem(f"type: unsupported call type {kind!r}")
    if len(json.dumps(call, separators=(",", ":")).encode()) > MAX_ITEM_BYTES:
        raise CallProblem(f"the call is over {MAX_ITEM_BYTES} bytes")
    user, anonymous = _text(call.get("userId")), _text(call.get("anonymousId"))
    if kind == "alias":
        if not user or not _text(call.get("previousId")):
            raise CallProblem("alias needs userId and previousId")
    elif not user and not anonymous:
        raise CallProblem("userId or anonymousId is required")
    if kind == "track" and not _text(call.get("event")):
        raise CallProblem("event: required")
    if kind == "group" and not _text(call.get("groupId")):
        raise CallProblem("groupId: required")
    for name in ("traits", "properties", "context"):
        if name in call and not isinstance(call[name], dict):
            raise CallProblem(f"{name}: must be an object")
    return call


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _seconds(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def _apply(state: EmulatorState, site: str, call: dict[str, Any]) -> None:
    kind = call["type"]
    user, anonymous = _text(call.get("userId")), _text(call.get("anonymousId"))
    ref = path_ref(user) if user else None
    when = _seconds(call.get("timestamp"))
    context = call.get("context") or {}
    if kind == "identify":
        if ref is None:
            notes.note("identify: an anonymous profile is not kept")
            return
        state.identify(
            site, ref, dict(call.get("traits") or {}), timestamp=when, anonymous_id=anonymous
        )
    elif kind == "alias":
        assert ref is not None
        state.merge(site, ref, path_ref(str(call["previousId"]).strip()))
    elif kind == "group":
        _group(state, site, call, ref, anonymous)
    elif kind == "track" and _semantic(state, site, call, ref, context):
        return
    else:
        name = _text(call.get("event") if kind == "track" else call.get("name"))
        properties = dict(call.get("properties") or {})
        if kind == "page" and not name:
            name = _text(properties.get("url")) or "page"
        event_id = f"pl:{call['messageId']}" if _text(call.get("messageId")) else None
        state.record_activity(
            site,
            ref,
            type="event" if kind == "track" else kind,
            name=name or kind,
            data=properties,
            timestamp=when,
            event_id=event_id,
            anonymous_id=anonymous,
        )


def _semantic(
    state: EmulatorState, site: str, call: dict[str, Any], ref: Ref | None, context: Any
) -> bool:
    """Apply a semantic event's action; True when the event itself is not also stored."""
    name = str(call["event"]).strip()
    properties = call.get("properties") or {}
    device = context.get("device") if isinstance(context, dict) else None
    token = _text(device.get("token")) if isinstance(device, dict) else None
    if ref is None:
        return False
    if name in LIFECYCLE:
        action = LIFECYCLE[name]
        if action == "delete":
            state.delete_person(site, ref)
        else:
            state.set_suppressed(site, ref, action == "suppress")
        return True
    if name in ("Device Created or Updated", *DEVICE_EVENTS) and token:
        platform = str(device.get("type") or "").lower() if isinstance(device, dict) else ""
        state.add_device(
            site, ref, token, "ios" if platform in ("ios", "ipados") else platform or None
        )
        return name == "Device Created or Updated"
    if name in ("Device Deleted", "Application Uninstalled") and token:
        state.delete_device(site, ref, token)
        return name == "Device Deleted"
    object_id = _text(properties.get("objectId") or properties.get("groupId"))
    object_type = _text(properties.get("objectTypeId")) or "1"
    if name == "Object Deleted" and object_id:
        state.delete_object(site, (object_type, object_id))
        return True
    if name == "Relationship Deleted" and object_id:
        state.relate(site, ref, (object_type, object_id), {}, add=False)
        return True
    if name == "Report Delivery Event" and _text(properties.get("deliveryId")):
        state.record_metric(
            site,
            str(properties["deliveryId"]),
            str(properties.get("metric")),
            _seconds(call.get("timestamp")),
        )
        return True
    return False


def _group(
    state: EmulatorState, site: str, call: dict[str, Any], ref: Ref | None, anonymous: str | None
) -> None:
    traits = dict(call.get("traits") or {})
    object_type = str(traits.pop("object_type_id", None) or call.get("objectTypeId") or "1")
    relationship = traits.pop("relationshipAttributes", None) or {}
    key = (object_type, str(call["groupId"]).strip())
    if ref is not None:
        state.identify_object(site, key, traits, [(ref, dict(relationship))])
    else:
        state.identify_object(site, key, traits, anonymous=[(str(anonymous), dict(relationship))])


def _route(kind: str | None) -> Any:
    async def handler(request: Request) -> Response:
        return await _handle(request, kind)

    return handler


for _kind in CALL_TYPES:
    pipelines.add_api_route(f"/v1/{_kind}", _route(_kind), methods=["POST"])
pipelines.add_api_route("/v1/batch", _route(None), methods=["POST"])
