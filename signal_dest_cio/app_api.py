"""The App API actions (SPEC 10): read a person's attributes, send a transactional email.

Bearer `api_key` to `api[-eu].customer.io` (or `app_api_base_url`), at most 10 requests
a second per workspace (its own pacer, apart from the Track API's). Results are data:
an `Outcome` (as SPEC 4) and, when there is one, Customer.io's answer.

A transactional send has no dedup id, so it is never repeated when its fate is unknown:
a timeout, or a connection lost, after the request went out ends `rejected` with code
`outcome_unknown` (dead-lettered, for an operator to decide); a 429 or 5xx answer, or a
connection that never opened, is `retry`.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .config import CustomerIoConfig
from .outcomes import Outcome, classify_status, transport_failure
from .pacing import RequestPacer

APP_API_PER_SECOND = 10
IdType = Literal["id", "email", "cio_id"]
USER_AGENT = "signal-dest-cio/0.1"

_PACERS: dict[tuple[str, str], RequestPacer] = {}


def app_pacer(config: CustomerIoConfig) -> RequestPacer:
    key = (config.app_base_url, config.workspace)
    if key not in _PACERS:
        _PACERS[key] = RequestPacer(APP_API_PER_SECOND)
    return _PACERS[key]


class TransactionalEmail(BaseModel):
    """`POST /v1/send/email`: the required fields checked here, the optional ones of the
    published `sendemail` schema passed through as given."""

    model_config = ConfigDict(extra="allow")

    transactional_message_id: int | str
    to: str = Field(min_length=3)
    identifiers: dict[str, str | int]
    message_data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_identifier(self) -> TransactionalEmail:
        if len(self.identifiers) != 1 or not set(self.identifiers) <= {"id", "email", "cio_id"}:
            raise ValueError("identifiers must hold exactly one of id, email, cio_id")
        return self


class AppResult(BaseModel):
    outcome: Outcome
    body: dict[str, Any] | None = None


class AppClient:
    """One long-lived client for a workspace's App API."""

    def __init__(
        self, config: CustomerIoConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if config.api_key is None:
            raise ValueError("the App API needs api_key (an App API key)")
        self.config = config
        self.pacer = app_pacer(config)
        self.http = httpx.AsyncClient(
            base_url=config.app_base_url,
            headers={
                "Authorization": f"Bearer {config.api_key.get_secret_value()}",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def customer_attributes(self, identifier: str, id_type: IdType = "id") -> AppResult:
        """`GET /v1/customers/{id}/attributes`: attributes, devices, identifiers (404 unknown)."""
        path = f"/v1/customers/{quote(identifier, safe='')}/attributes"
        return await self._call("GET", path, params={"id_type": id_type}, repeatable=True)

    async def send_email(self, message: TransactionalEmail) -> AppResult:
        """`POST /v1/send/email` -> `{delivery_id, queued_at}`; never repeated blindly."""
        body = message.model_dump(mode="json", exclude_none=True)
        return await self._call("POST", "/v1/send/email", json=body, repeatable=False)

    async def send_prepared(self, body: dict[str, Any]) -> AppResult:
        """A send the mapper prepared (the `transactional` map): checked, then sent once."""
        try:
            message = TransactionalEmail.model_validate(body)
        except ValueError as error:
            return AppResult(
                outcome=Outcome(
                    kind="rejected",
                    code="invalid_transactional",
                    message=f"the transactional send is not valid: {error.__class__.__name__}",
                )
            )
        return await self.send_email(message)

    async def _call(self, method: str, path: str, *, repeatable: bool, **options: Any) -> AppResult:
        await self.pacer.wait()
        try:
            response = await self.http.request(method, path, **options)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never left: trying again cannot send it twice.
            message = f"could not reach Customer.io's App API ({type(error).__name__})"
            return AppResult(outcome=transport_failure("connection_error", message))
        except httpx.TransportError as error:
            if repeatable:
                return AppResult(outcome=transport_failure("timeout", "no answer in time"))
            return AppResult(
                outcome=Outcome(
                    kind="rejected",
                    code="outcome_unknown",
                    message=f"the request went out but no answer came back "
                    f"({type(error).__name__}): it may or may not have been sent; not "
                    "repeated, so it is never sent twice",
                )
            )
        outcome = classify_status(
            response.status_code, response.content, response.headers.get("Retry-After")
        )
        if response.status_code == 404:
            outcome = outcome.model_copy(update={"code": "not_found"})
        try:
            data = response.json()
        except ValueError:
            data = None
        return AppResult(outcome=outcome, body=data if isinstance(data, dict) else None)
