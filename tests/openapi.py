"""Validate requests against Customer.io's published Track API OpenAPI file.

`validate_request(method, path, body)` finds the operation whose path template
matches `path` and checks `body` against its requestBody schema (JSON Schema
Draft 2020-12, `#/components/...` refs resolved with `referencing`). The file
is patched in a deep copy with a few narrow, documented relaxations; see
`_relax`. Formats (`email`, `ulid`, ...) are annotations in 2020-12 and are
not asserted, as Customer.io's own file does not define most of them.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

FILE_NAME = "track-api.openapi.json"
DOCUMENT_URI = "urn:customerio:track-api"
METHODS = ("get", "put", "post", "delete", "patch")
ANONYMOUS_EVENT_SCHEMAS = ("person_event", "person_page", "person_screen")


def openapi_path() -> Path:
    """The Track API file: $SIGNAL_CIO_OPENAPI_DIR, else ../shared/reference/customerio."""
    directory = os.environ.get("SIGNAL_CIO_OPENAPI_DIR")
    if directory:
        return Path(directory) / FILE_NAME
    return Path(__file__).resolve().parents[2] / "shared/reference/customerio" / FILE_NAME


@functools.cache
def published_document() -> dict[str, Any]:
    return json.loads(openapi_path().read_text(encoding="utf-8"))


def _relax(document: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the published file with the known relaxations applied."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]

    # (a) Attribute value types aside (the issue allows this): Customer.io stores
    # nested objects, arrays and floats as attributes, but the file narrows the
    # values to string/integer/boolean (identify body) and strings (devices).
    identify = _request_schema(document, "put", "/api/v1/customers/{identifier}")
    identify["additionalProperties"].pop("oneOf")
    device_attributes = schemas["device_object_common"]["properties"]["attributes"]
    device_attributes["additionalProperties"] = {}
    for field in device_attributes["properties"].values():
        field.pop("type", None)
    # Object attributes are `{"type": "object"}` with any values already; pin it
    # so a tightened file shows up here rather than as a mysterious failure.
    assert schemas["object_attributes"].get("type") == "object"
    assert "additionalProperties" not in schemas["object_attributes"]

    # (c) SPEC section 3 sends v2 anonymous events as `identifiers: {anonymous_id}`,
    # which the published `person_common` lacks. Add exactly that branch, and only
    # for event, page and screen items.
    anonymous = copy.deepcopy(schemas["person_common"])
    anonymous["properties"]["identifiers"]["oneOf"].append(
        {
            "title": "anonymous_id",
            "type": "object",
            "required": ["anonymous_id"],
            "properties": {"anonymous_id": {"$ref": "#/components/schemas/anonymous_id"}},
        }
    )
    schemas["person_common_or_anonymous"] = anonymous
    for name in ANONYMOUS_EVENT_SCHEMAS:
        first = schemas[name]["allOf"][0]
        assert first == {"$ref": "#/components/schemas/person_common"}, name
        first["$ref"] = "#/components/schemas/person_common_or_anonymous"

    # (d) SPEC 3.1 lists `failed` among the metrics a "Report Delivery Event" reports
    # (`POST /api/v1/metrics`); every channel's enum in the file leaves it out. Add it
    # to the email branch (the one with `recipient`, `reason` and `href`), and only there.
    email = _request_schema(document, "post", "/api/v1/metrics")["oneOf"][0]
    assert email["title"] == "Email", email.get("title")
    enum = email["allOf"][1]["properties"]["metric"]["enum"]
    assert "failed" not in enum
    enum.append("failed")

    # (e) A known person's screen in v1 is `POST /api/v1/customers/{id}/events` with
    # `type: "screen"` and no `anonymous_id` (SPEC 3.1: the file's demand for one there
    # is a documentation slip; the mobile SDKs send screens so). The anonymous
    # endpoint (`/api/v1/events`) has its own schema and is left as published.
    screen = schemas["eventsRequest"]["oneOf"][2]
    assert screen["title"] == "Mobile screen view", screen.get("title")
    screen["required"].remove("anonymous_id")

    # (b) The file's `oneOf`s overlap (an anonymous page body matches two branches
    # of anonymousEventsRequest; a merge `{"id": "x"}` matches the ID and email
    # branches, which have no `required`), so strict oneOf rejects valid requests.
    # Read every oneOf as anyOf.
    _one_of_as_any_of(document)
    return document


def _one_of_as_any_of(node: Any) -> None:
    if isinstance(node, dict):
        if "oneOf" in node:
            branches = node.pop("oneOf")
            if "anyOf" in node:
                node.setdefault("allOf", []).append({"anyOf": branches})
            else:
                node["anyOf"] = branches
        for value in node.values():
            _one_of_as_any_of(value)
    elif isinstance(node, list):
        for value in node:
            _one_of_as_any_of(value)


def _request_schema(document: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    return document["paths"][template][method]["requestBody"]["content"]["application/json"][
        "schema"
    ]


@functools.cache
def relaxed_document() -> dict[str, Any]:
    return _relax(published_document())


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(relaxed_document(), default_specification=DRAFT202012)
    return Registry().with_resource(DOCUMENT_URI, resource)


def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The path template and operation object for a request, or AssertionError."""
    method = method.lower()
    matches = [
        template
        for template, operations in relaxed_document()["paths"].items()
        if method in operations and _template_pattern(template).fullmatch(path)
    ]
    if not matches:
        raise AssertionError(f"{method.upper()} {path} matches no operation in {FILE_NAME}")
    # Literal segments win over parameters, as in every router.
    template = min(matches, key=lambda t: t.count("{"))
    return template, relaxed_document()["paths"][template][method]


@functools.cache
def _validator(method: str, template: str) -> Draft202012Validator:
    pointer = "/".join(
        _pointer_part(part)
        for part in ("paths", template, method, "requestBody", "content", "application/json")
    )
    schema = {"$ref": f"{DOCUMENT_URI}#/{pointer}/schema"}
    return Draft202012Validator(schema, registry=_registry())


def validate_request(method: str, path: str, body: Any) -> None:
    """Assert that `body` is what the Track API accepts for `method path`."""
    template, operation = find_operation(method, path)
    label = f"{method.upper()} {path} ({template})"
    if "requestBody" not in operation:
        assert body is None, f"{label} takes no body, got {body!r}"
        return
    if body is None:
        raise AssertionError(f"{label} needs a JSON body, got none")
    errors = list(_validator(method.lower(), template).iter_errors(body))
    if errors:
        # anyOf failures nest every branch's errors; the deepest ones say what is wrong.
        leaves = sorted(_leaves(errors), key=lambda e: -len(e.absolute_path))[:3]
        details = "\n".join(f"  at {_where(e)}: {e.message}" for e in leaves)
        best = best_match(errors)
        raise AssertionError(
            f"{label} body invalid at {_where(best)}: {best.message}\n{details}\nbody: {body!r}"
        )


def _leaves(errors: list[ValidationError]) -> list[ValidationError]:
    found: list[ValidationError] = []
    for error in errors:
        found.extend(_leaves(list(error.context or ())) if error.context else [error])
    return found


def _where(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(body)"


def validate_v2_item(item: dict[str, Any]) -> None:
    """Assert a v2 item is valid alone (POST /api/v2/entity) and in a batch."""
    validate_request("POST", "/api/v2/entity", item)
    validate_request("POST", "/api/v2/batch", {"batch": [item]})
