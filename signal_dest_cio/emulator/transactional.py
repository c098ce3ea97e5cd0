"""Transactional email sends (`POST /v1/send/email`) as rules on one workspace's data
(no clock, no lock: state.py holds those and finds or creates the person).

- A send names its template by id or trigger name (`Workspace.template`); the route
  refuses an unknown one before anything is recorded.
- The person is found by the one identifier given. An unknown `id` or `email` creates
  them, as Customer.io does ("If the person you reference by email or ID does not
  exist, Customer.io creates them": customerio-ruby's README); an unknown `cio_id`
  cannot be created, and the route answers 404.
- A suppressed person's send is still queued and recorded (Customer.io reports such a
  message `dropped`); the request's notes say so.
- The subject is the request's `subject`, else the template's, with `{{message_data.x}}`
  and `{{customer.x}}` filled in (that much Liquid, no more; unknown names are empty).
- Delivery ids are opaque, unique per emulator and stable for a run: the workspace's
  environment id and the send's number, base64url-encoded.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

from . import notes
from .people import WorkspaceData
from .records import JsonObject, Person, Send, Template

_TAG = re.compile(r"{{\s*(message_data|customer)\.([A-Za-z0-9_]+)\s*}}")
_VERSION = b"\x01"  # the first byte of every emulated delivery id


def new_delivery_id(environment_id: int, number: int) -> str:
    raw = _VERSION + struct.pack(">HI", environment_id, number) + b"tx"
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def as_text(value: Any) -> str:
    """An attribute or Liquid value as text: Customer.io stores attributes as strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def render(text: str, message_data: JsonObject, person: Person) -> str:
    def value(match: re.Match[str]) -> str:
        scope, name = match.groups()
        if scope == "message_data":
            found = message_data.get(name)
        else:
            found = person.identifiers().get(name, person.attributes.get(name))
        return "" if found is None else as_text(found)

    return _TAG.sub(value, text)


def record_send(
    data: WorkspaceData,
    environment_id: int,
    person: Person,
    template: Template,
    *,
    to: str,
    identifiers: dict[str, str],
    message_data: JsonObject,
    options: JsonObject,
    queued_at: int,
) -> Send:
    """Queue a send to `person` (already found or created) and record it."""
    if person.suppressed:
        notes.note(f"send to {person.cio_id}: suppressed, Customer.io would drop it")
    subject = options.get("subject")
    send = Send(
        delivery_id=new_delivery_id(environment_id, len(data.sends) + 1),
        queued_at=queued_at,
        template=template,
        to=to,
        identifiers=dict(identifiers),
        cio_id=person.cio_id,
        subject=render(
            subject if isinstance(subject, str) else template.subject, message_data, person
        ),
        message_data=dict(message_data),
        options=dict(options),
    )
    data.sends[send.delivery_id] = send
    return send
