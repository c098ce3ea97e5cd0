"""The App API (`api[-eu].customer.io`): the key check, a person's attributes, transactional
email, over the same state as the Track API (SPEC 10).

- Auth: `Authorization: Bearer <app_api_key>`. A missing or unknown key, or the key of
  a workspace in the other region, is a 401 `{"errors": [{"detail": "Unauthorized
  request"}]}` (the App API hosts are per region; there is no redirect).
- `GET /v1/workspaces`: the workspace of the key (what the destination's check reads).
- `GET /v1/customers/{identifier}/attributes?id_type=id|email|cio_id` (default `id`;
  `identifier` percent-decoded, a cio_id without `cio_`): `{"customer": {"id",
  "identifiers": {"id", "email", "cio_id"}, "attributes": {name: string},
  "timestamps", "unsubscribed", "devices": [{"id", "platform", "last_used",
  "attributes"}]}}`, the `customerAttributesObject` of Customer.io's OpenAPI file
  (`views.customer_view`). Unknown or suppressed: 404 `{"errors": [{"detail"}]}`; an
  unknown `id_type`: 400, same shape.
- `POST /v1/send/email`: `transactional_message_id` (a template id, or its trigger
  name in any case), `to`, `identifiers` (exactly one of `id`, `email`, `cio_id`),
  `message_data` (an object) and the schema's other fields, kept as given. Refused
  with Customer.io's `{"meta": {"error": "..."}}`: 400 for a missing or malformed
  field, 404 for a template the workspace lacks or a cio_id no one holds. Otherwise
  `{"delivery_id", "queued_at"}`, and the send is recorded
  (`GET /_emulator/workspaces/{site_id}/sends`); rules in `transactional.py`.
  Not emulated: sends without a template (`body` + `subject` + `from`), `auto_create`,
  `send_at` scheduling (kept, not waited for), attachments' limits.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .middleware import NOTE_KEY
from .records import IdentifierKind, Ref, Template, Workspace
from .state import EmulatorState

ID_TYPES = ("id", "email", "cio_id")
_KINDS: dict[str, IdentifierKind] = {"id": "id", "email": "email", "cio_id": "cio_id"}
_SEND_FIELDS = ("transactional_message_id", "to", "identifiers", "message_data")

app_api = APIRouter()


def _errors(detail: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"detail": detail}]}, status_code=status)


def _meta_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"meta": {"error": message}}, status_code=status)


def _caller(request: Request) -> tuple[EmulatorState, Workspace] | Response:
    """The state and the workspace whose App API key the request carries, in this region."""
    host = request.app.state.emulator
    state: EmulatorState = host.state
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    workspace = state.workspace_for_app_key(key.strip()) if scheme.lower() == "bearer" else None
    if workspace is None or workspace.region != host.region:
        return _errors("Unauthorized request", 401)
    note = request.scope.get(NOTE_KEY)
    if isinstance(note, dict):
        note["site_id"] = workspace.site_id  # for the request log: the workspace, never the key
    return state, workspace


@app_api.get("/v1/workspaces")
async def workspaces(request: Request) -> Response:
    """The one App API call the destination's check makes: a cheap read needing the key."""
    found = _caller(request)
    if isinstance(found, Response):
        return found
    state, workspace = found
    summary = state.workspace_view(workspace.site_id)
    listed = {
        "id": summary["environment_id"],
        "name": workspace.site_id,
        "messages_sent": summary["sends"],
        "billable_messages_sent": summary["sends"],
        "people": summary["people"],
    }
    return JSONResponse({"workspaces": [listed]})


@app_api.get("/v1/customers/{identifier}/attributes")
async def customer_attributes(identifier: str, request: Request, id_type: str = "id") -> Response:
    found = _caller(request)
    if isinstance(found, Response):
        return found
    state, workspace = found
    if id_type not in ID_TYPES:
        return _errors(f"id_type must be one of {', '.join(ID_TYPES)}", 400)
    ref = Ref(_KINDS[id_type], unquote(identifier))
    customer = state.customer_attributes(workspace.site_id, ref)
    if customer is None:
        return _errors("The customer was not found", 404)
    return JSONResponse(customer)


@app_api.post("/v1/send/email")
async def send_email(request: Request) -> Response:
    found = _caller(request)
    if isinstance(found, Response):
        return found
    state, workspace = found
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _meta_error("request body is not valid JSON")
    checked = _check_send(body, workspace)
    if isinstance(checked, Response):
        return checked
    template, ref = checked
    send = state.send_email(
        workspace.site_id,
        ref,
        template,
        to=body["to"],
        message_data=body.get("message_data"),
        options={k: v for k, v in body.items() if k not in _SEND_FIELDS},
    )
    if send is None:
        return _meta_error(f"no person has cio_id {ref.value!r}", 404)
    return JSONResponse({"delivery_id": send["delivery_id"], "queued_at": send["queued_at"]})


def _check_send(body: Any, workspace: Workspace) -> tuple[Template, Ref] | Response:
    """The template and person a send names, or Customer.io's refusal."""
    if not isinstance(body, dict):
        return _meta_error("request body must be a JSON object")
    named = body.get("transactional_message_id")
    if named is None:
        return _meta_error("transactional_message_id is required")
    if isinstance(named, bool) or not isinstance(named, int | str) or not str(named).strip():
        return _meta_error("transactional_message_id must be a message id or trigger name")
    to = body.get("to")
    if not isinstance(to, str) or not to.strip():
        return _meta_error("to is required: the address to send to")
    ref = _identifiers_ref(body.get("identifiers"))
    if ref is None:
        return _meta_error("identifiers must hold exactly one of id, email or cio_id")
    if not isinstance(body.get("message_data", {}), dict):
        return _meta_error("message_data must be an object")
    if "subject" in body and not isinstance(body["subject"], str):
        return _meta_error("subject must be a string")
    template = workspace.template(named)
    if template is None:
        return _meta_error(f"transactional message {named!r} not found", 404)
    return template, ref


def _identifiers_ref(identifiers: Any) -> Ref | None:
    if not isinstance(identifiers, dict) or len(identifiers) != 1:
        return None
    [(kind, value)] = identifiers.items()
    if kind not in ID_TYPES or isinstance(value, bool):
        return None
    if kind != "email" and isinstance(value, int):
        value = str(value)  # the published examples give ids as numbers
    if not isinstance(value, str) or not value.strip():
        return None
    return Ref(_KINDS[kind], value)
