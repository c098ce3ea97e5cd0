"""An api mode is a renderer plus a route table (STYLE: httpx's transports are the model).

`route_for(config)` says, for the mode configured, where requests go and how each
operation travels: as an item of the mode's batch request, or as a request of its own.
The client sends whatever it is given; it knows no mode.

- `v2`: the Track API, Basic `site_id:key`; items of at most 32 KB go to
  `/api/v2/batch`, a larger one by its v1 request.
- `v1`: the Track API, Basic `site_id:key`; every operation is a request (`render_v1`).
- `pipelines`: `cdp[-eu].customer.io/v1`, Basic `cdp_api_key:`; calls go to `/batch`
  (the mapper refuses one over 32 KB), an `alias` to `/alias`.

Pipelines requests always carry `X-Strict-Mode: 1`, so a bad call is a 400, not a
silent 200.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .config import CustomerIoConfig
from .operations import Operation, compact_json
from .render import BATCH_PATH, Request, encode_body, has_v2_item, render_v1, render_v2

MAX_ITEM_BYTES = 32 * 1024
PIPELINES_BATCH_PATH = "/batch"
PIPELINES_ALIAS_PATH = "/alias"

# An operation either joins the mode's batch (its encoded item) or goes on its own.
Direct = tuple[Request, bytes | None]
Step = tuple[bytes | None, Direct | None]


@dataclass(frozen=True, slots=True)
class Route:
    base_url: str
    auth: httpx.Auth
    headers: dict[str, str]
    batch_path: str
    step: Callable[[Operation], Step]
    region_lookup: bool  # a refused key can be explained by asking the Track API's region


def _direct(op: Operation) -> Direct:
    request = render_v1(op)
    return request, None if request.json is None else encode_body(request.json, op)


def track_v1_step(op: Operation) -> Step:
    return None, _direct(op)


def track_v2_step(op: Operation) -> Step:
    if not has_v2_item(op):  # a delivery metric is a v1 request in both modes
        return None, _direct(op)
    body = encode_body(render_v2(op), op)
    if len(body) <= MAX_ITEM_BYTES:
        return body, None
    return None, _direct(op)  # v2 refuses an item this large; v1 takes it


def pipelines_step(op: Operation) -> Step:
    if op.action != "pipelines":  # a transactional send: the App API, in the lane
        return None, _direct(op)
    body = op.data_json or compact_json(op.attributes or {})  # encoded once, by the mapper
    if op.name == "alias":  # the batch does not take aliases
        return None, (Request("POST", PIPELINES_ALIAS_PATH, op.attributes), body)
    return body, None


def render_pipelines_call(op: Operation) -> Request:
    """A Data Pipelines call as a request of its own: `POST /<type>` (what preview shows)."""
    return Request("POST", f"/{op.name}", op.attributes)


def route_for(config: CustomerIoConfig) -> Route:
    if config.pipelines:
        assert config.cdp_api_key is not None
        return Route(
            base_url=config.pipelines_base_url,
            auth=httpx.BasicAuth(config.cdp_api_key.get_secret_value(), ""),
            headers={"X-Strict-Mode": "1"},
            batch_path=PIPELINES_BATCH_PATH,
            step=pipelines_step,
            region_lookup=False,
        )
    site_id, key = config.track_credentials()
    return Route(
        base_url=config.track_base_url,
        auth=httpx.BasicAuth(site_id, key),
        headers={},
        batch_path=BATCH_PATH,
        step=track_v1_step if config.api == "v1" else track_v2_step,
        region_lookup=True,
    )
