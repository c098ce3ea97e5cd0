"""Validate Data Pipelines calls against Customer.io's published Pipelines API file.

`validate_call(path, body)` checks a call (`/identify`, `/track`, `/page`, `/screen`,
`/group`, `/alias`, or `/batch`) against that endpoint's requestBody schema (JSON
Schema 2020-12, refs resolved with `referencing`), with one documented relaxation.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from openapi import _one_of_as_any_of, openapi_path
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

FILE_NAME = "pipelines-api.openapi.json"
DOCUMENT_URI = "urn:customerio:pipelines-api"


@functools.cache
def relaxed_document() -> dict[str, Any]:
    document = json.loads((openapi_path().parent / FILE_NAME).read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    # The file's oneOfs overlap: a call with both userId and anonymousId (an identify
    # that merges anonymous activity, SPEC 3) matches "Known User" and "Anonymous
    # User" alike, so strict oneOf refuses it. Read every oneOf as anyOf, as for the
    # Track API file.
    _one_of_as_any_of(document)
    return document


@functools.cache
def _validator(path: str) -> Draft202012Validator:
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(relaxed_document(), default_specification=DRAFT202012)
    )
    pointer = f"paths/~1{path.strip('/')}/post/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=registry)


def validate_call(path: str, body: Any) -> None:
    """Assert that the Pipelines API accepts `body` at `POST {path}`."""
    assert path in relaxed_document()["paths"], f"POST {path} is not a Pipelines endpoint"
    errors = list(_validator(path).iter_errors(body))
    if errors:
        best = best_match(errors)
        raise AssertionError(f"POST {path}: {best.message} at {list(best.absolute_path)}: {body}")
