"""The App API actions through the host's admin API (SPEC 10), for a Customer.io integration:

- `GET /v1/admin/integrations/{id}/customers/{identifier}?id_type=id|email|cio_id`: the
  person as Customer.io holds them (attributes, devices, identifiers); 404 when unknown.
- `POST /v1/admin/integrations/{id}/transactional`: send a transactional email
  (`transactional_message_id`, `to`, `identifiers`, `message_data`, ...); the answer is
  the outcome and Customer.io's `{delivery_id, queued_at}`. A send whose fate is
  unknown is `rejected`/`outcome_unknown` (the host never repeats it on its own).

Anything but `delivered` is the host's error envelope `{"error": {code, message,
details: [{"outcome"}]}}`: 404 not found, 422 rejected, 503 retry, 409 config error.

The integration's current revision supplies the App API key; nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .api import HostDep, clean_json_body, require_admin
from .errors import ApiError, field_path
from .pool import outcome_dict, plain

app_actions = APIRouter(
    prefix="/v1/admin/integrations", dependencies=[Depends(require_admin)], tags=["app api"]
)
_STATUS = {"delivered": 200, "rejected": 422, "retry": 503, "config_error": 409}


async def _run(host: Any, integration_id: str, call: Any) -> JSONResponse:
    integration = host.integration(integration_id)
    if integration.destination != "customer_io":
        raise ApiError(404, "not_found", "App API actions are for Customer.io integrations")
    revision = host.current_revision(integration)
    if not revision.config.get("api_key"):
        raise ApiError(409, "missing_api_key", "the integration has no App API key (api_key)")
    destination = host.pool.build(integration.destination, revision.config)
    secrets = host.pool.secrets_of(integration.destination, revision.config)
    try:
        result = await call(destination)
    finally:
        await destination.aclose()
    data = plain(result)
    outcome = outcome_dict(data["outcome"], secrets)
    if outcome["kind"] == "delivered":
        return JSONResponse({"outcome": outcome, "body": data.get("body")})
    # Anything else in the host's error envelope, the outcome among its details.
    status = 404 if outcome.get("code") == "not_found" else _STATUS.get(outcome["kind"], 502)
    raise ApiError(
        status,
        str(outcome.get("code") or outcome["kind"]),
        str(outcome.get("message") or f"Customer.io's App API: {outcome['kind']}"),
        [{"outcome": outcome}],
    )


@app_actions.get("/{integration_id}/customers/{identifier}")
async def customer_attributes(
    integration_id: str,
    identifier: str,
    host: HostDep,
    id_type: Annotated[Literal["id", "email", "cio_id"], Query()] = "id",
) -> JSONResponse:
    return await _run(host, integration_id, lambda d: d.customer_attributes(identifier, id_type))


@app_actions.post("/{integration_id}/transactional", dependencies=[Depends(clean_json_body)])
async def send_transactional(
    integration_id: str, message: dict[str, Any], host: HostDep
) -> JSONResponse:
    async def send(destination: Any) -> Any:
        try:
            return await destination.send_email(message)
        except ValidationError as error:
            details = [
                {"field": field_path(e["loc"]), "code": e["type"], "message": e["msg"]}
                for e in error.errors()
            ]
            where = ", ".join(d["field"] for d in details) or "the message"
            raise ApiError(422, "invalid_message", f"invalid message: {where}", details) from None

    return await _run(host, integration_id, send)
