"""Pure checks of Track API requests: Customer.io's limits and required fields.

Each check returns a list of `Problem`s (empty when all is well); the routes turn
them into Customer.io's error bodies (v1 `meta.errors`, v2 `errors[]`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from .records import Ref

MAX_IDENTIFIER_BYTES = 150
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_ITEM_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024

ACTIVITY_TYPES = ("event", "page", "screen")
# What `POST /api/v1/metrics` takes: the file's channel enums together, and `failed`.
METRICS = (
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "dropped",
    "failed",
    "spammed",
    "deferred",
)
PLATFORMS = ("ios", "android")
PERSON_IDENTIFIERS = ("id", "email", "cio_id")

_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# 26 Crockford base32 characters; the first is at most 7 (a ULID is 128 bits).
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
_CIO_PREFIX = "cio_"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    reason: str  # required | invalid | too_long | too_large | unsupported
    message: str

    def text(self) -> str:
        return f"{self.field}: {self.message}"


def byte_size(text: str) -> int:
    return len(text.encode("utf-8"))


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON, the way clients send it."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def is_email(value: str) -> bool:
    return _EMAIL_SHAPE.fullmatch(value) is not None


def is_ulid(value: Any) -> bool:
    return isinstance(value, str) and _ULID.fullmatch(value) is not None


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(site_id, key) from an `Authorization: Basic ...` value; None if it is not one."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        site_id, colon, key = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (site_id, key) if colon else None


def path_ref(text: str) -> Ref:
    """A v1 path identifier (already percent-decoded): `cio_` prefix, email shape, else id."""
    if text.startswith(_CIO_PREFIX) and len(text) > len(_CIO_PREFIX):
        return Ref("cio_id", text[len(_CIO_PREFIX) :])
    if is_email(text):
        return Ref("email", text)
    return Ref("id", text)


def check_identifier(value: Any, field: str) -> list[Problem]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return [Problem(field, "required", "must be a non-empty string")]
    if byte_size(value) > MAX_IDENTIFIER_BYTES:
        return [Problem(field, "too_long", f"must be at most {MAX_IDENTIFIER_BYTES} bytes")]
    return []


def identifiers_ref(
    value: Any, field: str, *, allow_anonymous: bool = False
) -> tuple[Ref | None, str | None, list[Problem]]:
    """(person, anonymous_id, problems) from a v2 `identifiers` (or merge side) object."""
    allowed = PERSON_IDENTIFIERS + (("anonymous_id",) if allow_anonymous else ())
    if not isinstance(value, dict):
        return None, None, [Problem(field, "required", "must be an object")]
    given = [key for key in allowed if key in value]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        return None, None, [Problem(f"{field}.{unknown[0]}", "invalid", "unknown identifier")]
    if len(given) != 1:
        wanted = " or ".join(allowed)
        return None, None, [Problem(field, "invalid", f"must hold exactly one of {wanted}")]
    key = given[0]
    problems = check_identifier(value[key], f"{field}.{key}")
    if problems:
        return None, None, problems
    text = str(value[key])
    if key == "anonymous_id":
        return None, text, []
    if key == "email" and not is_email(text):
        return None, None, [Problem(f"{field}.email", "invalid", "is not an email address")]
    return Ref(key, text), None, []  # type: ignore[arg-type]


def check_attributes(value: Any, field: str) -> list[Problem]:
    """Attribute names up to 150 bytes, values up to 1000 (nested values as compact JSON)."""
    if not isinstance(value, dict):
        return [Problem(field, "invalid", "must be an object")]
    problems = []
    for name, item in value.items():
        if byte_size(name) > MAX_ATTRIBUTE_NAME_BYTES:
            problems.append(
                Problem(
                    f"{field}.{name[:40]}",
                    "too_long",
                    f"attribute name is over {MAX_ATTRIBUTE_NAME_BYTES} bytes",
                )
            )
            continue
        size = byte_size(item) if isinstance(item, str) else json_size(item)
        if size > MAX_ATTRIBUTE_VALUE_BYTES:
            problems.append(
                Problem(
                    f"{field}.{name}",
                    "too_large",
                    f"attribute value is over {MAX_ATTRIBUTE_VALUE_BYTES} bytes",
                )
            )
    return problems


def check_timestamp(value: Any, field: str) -> list[Problem]:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return []
    return [Problem(field, "invalid", "must be an integer unix timestamp")]


def check_activity(
    body: dict[str, Any], *, data_field: str, type_field: str | None = "type"
) -> list[Problem]:
    """An event, page or screen: name, type, data, timestamp and dedup id."""
    problems: list[Problem] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "required", "is required"))
    elif byte_size(name.strip()) > MAX_EVENT_NAME_BYTES:
        problems.append(
            Problem("name", "too_long", f"must be at most {MAX_EVENT_NAME_BYTES} bytes")
        )
    if type_field and body.get(type_field) not in (None, *ACTIVITY_TYPES):
        problems.append(Problem(type_field, "invalid", "must be event, page or screen"))
    data = body.get(data_field)
    if data is not None:
        if not isinstance(data, dict):
            problems.append(Problem(data_field, "invalid", "must be an object"))
        elif (size := json_size(data)) > MAX_EVENT_DATA_BYTES:
            problems.append(
                Problem(
                    data_field,
                    "too_large",
                    f"is {size} bytes; at most {MAX_EVENT_DATA_BYTES} are accepted",
                )
            )
    problems.extend(check_timestamp(body.get("timestamp"), "timestamp"))
    if "id" in body and not is_ulid(body["id"]):
        problems.append(Problem("id", "invalid", "must be a ULID (26 Crockford base32 chars)"))
    anonymous_id = body.get("anonymous_id")
    if anonymous_id is not None:
        problems.extend(check_identifier(anonymous_id, "anonymous_id"))
    return problems


def check_device(value: Any, field: str, token_key: str, *, need_platform: bool) -> list[Problem]:
    """A device object: v1 names the token `id`, v2 `token`; platform ios or android."""
    if not isinstance(value, dict):
        return [Problem(field, "required", "must be an object")]
    token = value.get(token_key)
    problems: list[Problem] = []
    if not isinstance(token, str) or not token:
        problems.append(Problem(f"{field}.{token_key}", "required", "is required"))
    if need_platform and value.get("platform") not in PLATFORMS:
        problems.append(Problem(f"{field}.platform", "invalid", "must be ios or android"))
    problems.extend(check_timestamp(value.get("last_used"), f"{field}.last_used"))
    if "attributes" in value:
        problems.extend(check_attributes(value["attributes"], f"{field}.attributes"))
    return problems


def object_key(value: Any, field: str) -> tuple[tuple[str, str] | None, list[Problem]]:
    """(object_type_id, object_id) from an object's `identifiers`."""
    if not isinstance(value, dict):
        return None, [Problem(field, "required", "must be an object")]
    type_id, object_id = value.get("object_type_id"), value.get("object_id")
    problems = [
        Problem(f"{field}.{key}", "required", "must be a non-empty string")
        for key, given in (("object_type_id", type_id), ("object_id", object_id))
        if not isinstance(given, str) or not given
    ]
    if problems:
        return None, problems
    return (str(type_id), str(object_id)), []


def check_metric(body: dict[str, Any]) -> list[Problem]:
    """A `POST /api/v1/metrics` body: a delivery_id, a known metric, optional details."""
    problems: list[Problem] = []
    delivery_id = body.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id.strip():
        problems.append(Problem("delivery_id", "required", "must be a non-empty string"))
    if body.get("metric") not in METRICS:
        problems.append(Problem("metric", "invalid", f"must be one of {', '.join(METRICS)}"))
    problems.extend(check_timestamp(body.get("timestamp"), "timestamp"))
    recipient = body.get("recipient")  # an email or id, a device, or (SMS) a phone number
    if recipient is not None and not isinstance(recipient, str | int):
        problems.append(Problem("recipient", "invalid", "must be a string or a number"))
    for key in ("reason", "href"):
        if body.get(key) is not None and not isinstance(body[key], str):
            problems.append(Problem(key, "invalid", "must be a string"))
    return problems


def anonymous_relationships(item: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[Problem]]:
    """(anonymous_id, relationship attributes) pairs of an object `identify_anonymous`:
    its `cio_relationships` (`identifiers: {anonymous_id}`), or the `anonymous_id` of
    the published example; at least one."""
    entries = item.get("cio_relationships")
    found: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    if isinstance(item.get("anonymous_id"), str) and item["anonymous_id"].strip():
        found.append((item["anonymous_id"], {}))
    if entries is not None and not isinstance(entries, list):
        return [], [Problem("cio_relationships", "invalid", "must be a list")]
    for index, entry in enumerate(entries or []):
        field = f"cio_relationships[{index}]"
        identifiers = entry.get("identifiers") if isinstance(entry, dict) else None
        if not isinstance(identifiers, dict) or set(identifiers) != {"anonymous_id"}:
            problems.append(Problem(f"{field}.identifiers", "invalid", "must be {anonymous_id}"))
            continue
        anonymous_id = identifiers["anonymous_id"]
        where = f"{field}.identifiers.anonymous_id"
        if not isinstance(anonymous_id, str):
            problems.append(Problem(where, "invalid", "must be a string"))
            continue
        problems += check_identifier(anonymous_id, where)
        attributes = entry.get("relationship_attributes", {})
        problems += check_attributes(attributes, f"{field}.relationship_attributes")
        found.append((anonymous_id, attributes))
    if not found and not problems:
        problems.append(Problem("cio_relationships", "required", "needs an anonymous_id"))
    return found, problems
