"""Which identifier a person gets, and how it is written in paths and bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote

IdentifierKey = Literal["id", "email", "cio_id"]

MAX_IDENTIFIER_BYTES = 150
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CIO_PREFIX = "cio_"


@dataclass(frozen=True, slots=True)
class Person:
    """A resolved person identifier, exactly as the event gave it."""

    value: str

    @property
    def key(self) -> IdentifierKey:
        return identifier_key(self.value)

    @property
    def identifiers(self) -> dict[str, str]:
        """The `{id|email|cio_id: ...}` object of v2 items and merge bodies."""
        return identifiers_for(self.value)

    @property
    def path(self) -> str:
        """The value as a v1 path segment: percent-encoded with no safe characters."""
        return _path_segment(self.value)


# Render asks for these per operation, and the same people come back: cached.
@lru_cache(maxsize=4096)
def _path_segment(value: str) -> str:
    return quote(value, safe="")


@lru_cache(maxsize=4096)
def identifier_key(value: str) -> IdentifierKey:
    if value.startswith(_CIO_PREFIX) and len(value) > len(_CIO_PREFIX):
        return "cio_id"
    if _EMAIL_SHAPE.fullmatch(value):
        return "email"
    return "id"


def identifiers_for(value: str) -> dict[str, str]:
    key = identifier_key(value)
    return {key: value[len(_CIO_PREFIX) :] if key == "cio_id" else value}


def _email_in(source: dict[str, Any]) -> str | None:
    value = source.get("email")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def resolve_person(
    user_id: str | None,
    traits: dict[str, Any],
    context_traits: dict[str, Any],
    properties: dict[str, Any],
) -> Person | None:
    """The person an event is about: user_id, else an email from the traits or properties."""
    if user_id:
        return Person(user_id)
    for source in (traits, context_traits, properties):
        email = _email_in(source)
        if email:
            return Person(email)
    return None


def too_long(value: str) -> bool:
    # A character is at most 4 UTF-8 bytes, so short values need no encoding to tell.
    return (
        len(value) * 4 > MAX_IDENTIFIER_BYTES and len(value.encode("utf-8")) > MAX_IDENTIFIER_BYTES
    )
