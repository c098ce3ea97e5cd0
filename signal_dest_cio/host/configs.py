"""Destination configs as the host handles them: validated, stored whole, shown masked."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from ..logging import register_secret, scrub
from .errors import ApiError, field_path

MASK = "********"


def validate(
    destination: Any, raw: Mapping[str, Any], secret_fields: frozenset[str], prefix: str = "config"
) -> BaseModel:
    """The destination's config model, or a 422 naming each bad field (never its value)."""
    try:
        model: BaseModel = destination.config_model.model_validate(dict(raw))
    except ValidationError as error:
        secrets = frozenset(
            value for key in secret_fields if isinstance(value := raw.get(key), str) and value
        )
        details = [
            {
                "field": field_path((prefix, *problem["loc"])),
                "code": problem["type"],
                "message": scrub(problem["msg"], secrets),
            }
            for problem in error.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(detail["field"] for detail in details)
        raise ApiError(422, "invalid_config", f"invalid config: {fields}", details) from None
    return model


def storable(model: BaseModel) -> dict[str, Any]:
    """The whole config as plain JSON, secrets revealed: only ever handed to the vault."""
    plain: dict[str, Any] = _reveal(model.model_dump(mode="python"))
    return plain


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        secret = value.get_secret_value()
        return secret.decode() if isinstance(secret, bytes) else secret
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        # A `float` setting (max_requests_per_second) reads 100 as 100.0: stored so, it
        # came back as 100.0 after every install and revision. JSON has one number type,
        # and the model reads 100 as 100.0 again, so the whole number is kept as written.
        return int(value)
    if isinstance(value, dict):
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(item) for item in value]
    return value


def masked(config: Mapping[str, Any], secret_fields: frozenset[str]) -> dict[str, Any]:
    """What responses show: each secret that is set becomes `********`."""
    return {
        key: (MASK if key in secret_fields and value not in (None, "") else value)
        for key, value in config.items()
    }


def secret_values(config: Mapping[str, Any], secret_fields: frozenset[str]) -> frozenset[str]:
    return frozenset(
        value for key in secret_fields if isinstance(value := config.get(key), str) and value
    )


def remember_secrets(config: Mapping[str, Any], secret_fields: frozenset[str]) -> None:
    """Teach the log redaction processor these values, before anything could log them."""
    for value in secret_values(config, secret_fields):
        register_secret(value)


def overlay(
    current: Mapping[str, Any], changes: Mapping[str, Any], secret_fields: frozenset[str]
) -> dict[str, Any]:
    """A new revision's config: the current one overlaid by the changes.

    A secret left out, or sent back as the mask a response showed, keeps its value,
    so a client that never sees secrets can still change the other settings.
    """
    merged = dict(current)
    for key, value in changes.items():
        if key in secret_fields and value == MASK:
            continue
        merged[key] = value
    return merged
