"""Which device an event's context describes (SPEC sections 3 and 3.1, devices)."""

from __future__ import annotations

from .events import Context
from .operations import Device
from .text import trimmed


def device_of(context: Context, last_used: int | None) -> Device | None:
    """The device in `context.device` (with its platform and attributes), or None without
    a token."""
    token = trimmed(context.device.get("token"))
    if token is None:
        return None
    platform = (
        trimmed(context.device.get("type")) or trimmed(context.os.get("name")) or ""
    ).lower()
    os_name = " ".join(
        filter(None, (trimmed(context.os.get("name")), trimmed(context.os.get("version"))))
    )
    attributes = {
        "device_model": trimmed(context.device.get("model")),
        "device_os": os_name or None,
        "app_version": trimmed(context.app.get("version")),
        "device_locale": trimmed(context.locale),
    }
    return Device(
        token=token,
        platform=platform if platform in ("ios", "android") else None,
        last_used=last_used,
        attributes={k: v for k, v in attributes.items() if v},
    )
