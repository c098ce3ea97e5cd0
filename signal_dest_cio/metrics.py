"""Delivery metrics (SPEC 3.1): track "Report Delivery Event" -> `POST /api/v1/metrics`.

An app reports what happened to a message Customer.io delivered (a push opened, an
in-app message clicked), naming the delivery by the id Customer.io gave it. The
request is the Track API's v1 metrics call in both api modes; it names no person.
"""

from __future__ import annotations

from typing import Any

from .mapping_context import MappingContext, Refusal
from .objects import identifier_text
from .operations import Operation

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
OPTIONAL_FIELDS = ("recipient", "reason", "href")


def _given(properties: dict[str, Any], name: str, snake: str) -> Any:
    value = properties.get(name)
    return properties.get(snake) if value is None else value


def map_delivery_metric(ctx: MappingContext) -> list[Operation]:
    properties = ctx.event.properties
    delivery_id = identifier_text(
        _given(properties, "deliveryId", "delivery_id"), "properties.deliveryId"
    )
    if delivery_id is None:
        raise Refusal(
            "missing_delivery_id",
            "Report Delivery Event needs properties.deliveryId (the CIO-Delivery-ID)",
            "properties.deliveryId",
        )
    metric = properties.get("metric")
    if not isinstance(metric, str) or metric.strip().lower() not in METRICS:
        raise Refusal(
            "invalid_metric",
            f"properties.metric must be one of {', '.join(METRICS)}; got {metric!r:.60}",
            "properties.metric",
        )
    body: dict[str, Any] = {"delivery_id": delivery_id, "metric": metric.strip().lower()}
    for name in OPTIONAL_FIELDS:
        value = properties.get(name)
        if isinstance(value, str) and value.strip():
            body[name] = value.strip()
        elif value is not None:
            ctx.warnings.append(f"attribute_dropped:properties.{name}:not_a_string")
    return [Operation("report_metric", attributes=body, timestamp=ctx.seconds)]
