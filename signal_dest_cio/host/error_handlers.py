"""The host's error answers as FastAPI sends them: `{"error": {"code", "message", "details"}}`.

Kept apart from `errors.py` so that code which only raises `ApiError` (the store, the
worker process) does not load FastAPI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import ApiError, field_path

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[Any] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {"field": field_path(error["loc"]), "code": error["type"], "message": error["msg"]}
        for error in errors
    ]


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if error.code == "unauthorized" else None
    return error_response(error.status, error.code, error.message, error.details, headers)


async def _request_invalid(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = _field_problems(error.errors())
    where = ", ".join(problem["field"] for problem in problems) or "the request"
    return error_response(422, "invalid_request", f"invalid request: {where}", problems)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _STATUS_CODES.get(error.status_code, "http_error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    return error_response(error.status_code, code, message, headers=error.headers)


async def _unexpected(_request: Request, _error: Exception) -> JSONResponse:
    # Never echo the exception: its text may quote stored config.
    return error_response(500, "internal_error", "the host failed to handle this request")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
