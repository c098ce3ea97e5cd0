"""Which identifier a person gets, and how it is written (SPEC section 3, Person identifier)."""

from __future__ import annotations

import pytest

from signal_dest_cio.identity import (
    Person,
    identifier_key,
    identifiers_for,
    resolve_person,
    too_long,
)


def test_user_id_wins_over_every_email() -> None:
    person = resolve_person("u1", {"email": "a@x.io"}, {"email": "b@x.io"}, {"email": "c@x.io"})

    assert person == Person("u1")


@pytest.mark.parametrize(
    ("traits", "context_traits", "properties", "expected"),
    [
        ({"email": "a@x.io"}, {"email": "b@x.io"}, {"email": "c@x.io"}, "a@x.io"),
        ({}, {"email": "b@x.io"}, {"email": "c@x.io"}, "b@x.io"),
        ({"email": "  "}, {"email": None}, {"email": "c@x.io"}, "c@x.io"),
        ({"email": 5}, {}, {"email": " c@x.io "}, "c@x.io"),
    ],
)
def test_email_comes_from_traits_then_context_traits_then_properties(
    traits: dict[str, object],
    context_traits: dict[str, object],
    properties: dict[str, object],
    expected: str,
) -> None:
    assert resolve_person(None, traits, context_traits, properties) == Person(expected)


def test_no_user_id_and_no_email_means_no_person() -> None:
    assert resolve_person(None, {"name": "x"}, {}, {"email": ""}) is None
    assert resolve_person("", {}, {}, {}) is None


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("a/b", "a%2Fb"),
        ("x@y.z", "x%40y.z"),
        ("a b", "a%20b"),
        ("100%", "100%25"),
        ("a?b#c&d=e+f", "a%3Fb%23c%26d%3De%2Bf"),
        ("é", "%C3%A9"),
        ("cio_abc", "cio_abc"),
    ],
)
def test_path_segment_is_percent_encoded_with_no_safe_characters(value: str, segment: str) -> None:
    assert Person(value).path == segment


@pytest.mark.parametrize(
    ("value", "key", "identifiers"),
    [
        ("cio_03000001", "cio_id", {"cio_id": "03000001"}),
        ("cio_x@y.io", "cio_id", {"cio_id": "x@y.io"}),
        ("x@y.io", "email", {"email": "x@y.io"}),
        ("first.last+tag@mail.example.com", "email", {"email": "first.last+tag@mail.example.com"}),
        ("42", "id", {"id": "42"}),
        ("x@y", "id", {"id": "x@y"}),
        ("a b@c.io", "id", {"id": "a b@c.io"}),
        ("cio_", "id", {"id": "cio_"}),
        ("CIO_abc", "id", {"id": "CIO_abc"}),
    ],
)
def test_identifier_key_follows_the_value_shape(
    value: str, key: str, identifiers: dict[str, str]
) -> None:
    assert identifier_key(value) == key
    assert identifiers_for(value) == identifiers
    assert Person(value).identifiers == identifiers


def test_identifier_limit_counts_utf8_bytes_not_characters() -> None:
    assert not too_long("a" * 150)
    assert too_long("a" * 151)
    assert not too_long("é" * 75)  # 150 bytes
    assert too_long("é" * 76)  # 76 characters, 152 bytes
