"""Which device an event's context describes (SPEC sections 3 and 3.1, devices)."""

from __future__ import annotations

from typing import Any

from .events import Context
from .operations import Device
from .text import trimmed

# What `context.device.type` (else `context.os.name`) says, in any case -> the platform.
PLATFORMS = {"ios": "ios", "ipados": "ios", "android": "android"}


def platform_of(context: Context) -> str | None:
    """`ios` or `android` from the device type, else from the OS name; None when neither
    names one (a `web` device type does not hide an `iOS` OS name)."""
    for value in (context.device.get("type"), context.os.get("name")):
        text = trimmed(value)
        if text is not None and text.lower() in PLATFORMS:
            return PLATFORMS[text.lower()]
    return None


def device_of(
    context: Context, last_used: int | None, extra: dict[str, Any] | None = None
) -> Device | None:
    """The device in `context.device` (with its platform and attributes), or None without
    a token. `extra` (the event's scalar properties) goes under the attributes the
    context gives: where both name one, the context's wins."""
    token = trimmed(context.device.get("token"))
    if token is None:
        return None
    os_name = " ".join(
        filter(None, (trimmed(context.os.get("name")), trimmed(context.os.get("version"))))
    )
    described = {
        "device_model": trimmed(context.device.get("model")),
        "device_os": os_name or None,
        "app_version": trimmed(context.app.get("version")),
        "device_locale": trimmed(context.locale),
    }
    attributes = dict(extra or {})
    attributes.update((k, v) for k, v in described.items() if v)
    return Device(
        token=token, platform=platform_of(context), last_used=last_used, attributes=attributes
    )
