"""What each field of an action may hold once resolved (SPEC 12), and its default.

A kind checks a literal when the config is saved and a resolved value when an event is
mapped; the same rule both times, so a literal that passes is never refused later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..text import identifier_problem
from ..timestamps import to_unix_seconds
from .casts import FieldError

Check = Callable[[Any], Any]  # a resolved value -> what the action uses; FieldError if unfit


def _identifier(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldError("must be a string or a number (an identifier)")
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldError("must be a whole number or a string (an identifier)")
        value = int(value)
    text = str(value).strip()
    if not text:
        raise FieldError("is empty")
    problem = identifier_problem(text, "it")
    if problem is not None:
        raise FieldError(problem.message.removeprefix("it ").strip())
    return text


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("must be a non-empty string")
    return value.strip()


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise FieldError("must be an object")
    return value


def _timestamp(value: Any) -> int:
    seconds = None if isinstance(value, bool) else to_unix_seconds(value)
    if seconds is None:
        raise FieldError("must be a timestamp (ISO-8601 or unix seconds)")
    return seconds


def _message_id(value: Any) -> int | str:
    if isinstance(value, bool):
        raise FieldError("must be a message id (a number) or a trigger name (a string)")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise FieldError("must be a message id (a number) or a trigger name (a string)")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError("must be true or false")
    return value


def _any(value: Any) -> Any:
    return value


KINDS: dict[str, tuple[Check, dict[str, Any]]] = {
    # kind: (check, the JSON Schema of a literal of that kind)
    "identifier": (_identifier, {"type": ["string", "integer"]}),
    "text": (_text, {"type": "string", "minLength": 1}),
    "object": (_object, {"type": "object"}),
    "timestamp": (_timestamp, {"type": ["string", "integer", "number"]}),
    "message_id": (_message_id, {"type": ["integer", "string"]}),
    "boolean": (_boolean, {"type": "boolean"}),
    "any": (_any, {}),
}


@dataclass(frozen=True, slots=True)
class FieldDef:
    kind: str
    required: bool = False
    default: Any = None  # a field spec (literal or directive) used when the field is not given
    description: str = ""

    @property
    def check(self) -> Check:
        return KINDS[self.kind][0]


def path(text: str) -> dict[str, Any]:
    return {"@path": text}


# The event's person as section 3 finds it: userId, else an email in the traits or
# properties (a group's traits are the object's, so a group's default skips them).
PERSON = {"@coalesce": [path(p) for p in ("userId", "traits.email", "context.traits.email",
                                          "properties.email")]}  # fmt: skip
GROUP_PERSON = {"@coalesce": [path("userId"), path("context.traits.email"),
                              path("properties.email")]}  # fmt: skip
ANONYMOUS = path("anonymousId")
EMAIL = {"@coalesce": [path(p) for p in ("traits.email", "context.traits.email",
                                         "properties.email")]}  # fmt: skip
_IDENTITY_KEYS = ["userId", "user_id", "anonymousId", "anonymous_id"]

_PERSON_FIELDS = {
    "id": FieldDef("identifier", default=PERSON, description="the person (id, email or cio_ id)"),
    "anonymous_id": FieldDef("identifier", default=ANONYMOUS, description="the anonymous id"),
}


def _activity(name_default: Any, data_default: Any) -> dict[str, FieldDef]:
    return {
        **_PERSON_FIELDS,
        "name": FieldDef("text", default=name_default, description="the event's name"),
        "data": FieldDef("object", default=data_default, description="the event's data"),
        "timestamp": FieldDef("timestamp", description="the event time (default: the event's)"),
    }


_OPTIONAL_EMAIL_FIELDS = {
    "from": "text", "subject": "text", "body": "text", "plaintext_body": "text",
    "amp_body": "text", "preheader": "text", "reply_to": "text", "bcc": "text",
    "fake_bcc": "boolean", "headers": "object", "attachments": "object", "language": "text",
    "disable_message_retention": "boolean", "send_to_unsubscribed": "boolean",
    "tracked": "boolean", "queue_draft": "boolean", "disable_css_preprocessing": "boolean",
    "send_at": "timestamp",
}  # fmt: skip

ACTION_FIELDS: dict[str, dict[str, FieldDef]] = {
    "identify_person": {
        "id": FieldDef("identifier", default=PERSON, description="the person (id, email, cio_)"),
        "anonymous_id": FieldDef("identifier", default=ANONYMOUS, description="merged into it"),
        "attributes": FieldDef(
            "object",
            default={
                "@omit": {
                    "keys": _IDENTITY_KEYS,
                    "value": {"@merge": {"objects": [path("context.traits"), path("traits")]}},
                }
            },
            description="the person's attributes",
        ),
        "created_at": FieldDef("timestamp", description="when the person was created"),
        "timestamp": FieldDef("timestamp", description="the update's time (default: the event's)"),
    },
    "track_event": _activity(path("event"), path("properties")),
    "track_page": _activity(
        {
            "@coalesce": [
                path("properties.url"),
                path("context.page.url"),
                path("name"),
                path("properties.name"),
            ]
        },
        {"@merge": {"objects": [path("context.page"), path("properties")]}},
    ),
    "track_screen": _activity(
        {"@coalesce": [path("name"), path("properties.name")]}, path("properties")
    ),
    "identify_object": {
        "object_id": FieldDef("identifier", default=path("groupId"), description="the object"),
        "object_type_id": FieldDef(
            "identifier",
            default={"@coalesce": [path("traits.objectTypeId"), path("traits.object_type_id")]},
            description="its type (default: the config's default_object_type_id)",
        ),
        "attributes": FieldDef(
            "object",
            default={
                "@omit": {
                    "value": path("traits"),
                    "keys": [
                        "objectTypeId",
                        "object_type_id",
                        "relationshipAttributes",
                        "relationship_attributes",
                    ],
                }
            },
            description="the object's attributes",
        ),
        "relationship_attributes": FieldDef(
            "object",
            default={
                "@coalesce": [
                    path("traits.relationshipAttributes"),
                    path("traits.relationship_attributes"),
                ]
            },
            description="attributes of the person's relationship to it",
        ),
        "id": FieldDef("identifier", default=GROUP_PERSON, description="the person related"),
        "anonymous_id": FieldDef("identifier", default=ANONYMOUS, description="or this one"),
    },
    "merge_people": {
        "primary": FieldDef("identifier", default=path("userId"), description="the one kept"),
        "secondary": FieldDef(
            "identifier", default=path("previousId"), description="merged into it"
        ),
    },
    "delete_person": {"id": FieldDef("identifier", default=PERSON, description="the person")},
    "send_transactional_email": {
        "message_id": FieldDef("message_id", required=True, description="the template's id"),
        "to": FieldDef("text", default=EMAIL, description="the address (default: the email)"),
        "id": FieldDef("identifier", default=PERSON, description="the person it is for"),
        "message_data": FieldDef(
            "object", default=path("properties"), description="the template's data"
        ),
        **{name: FieldDef(kind) for name, kind in _OPTIONAL_EMAIL_FIELDS.items()},
    },
    "drop": {"reason": FieldDef("text", description="why (recorded on the filtered outcome)")},
}
ACTIONS = tuple(ACTION_FIELDS)
