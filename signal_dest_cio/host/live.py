"""The /live page: a read-only view of the deliveries that refreshes itself.

The page itself holds no data. Its script (live_page/page.js) reads the admin token
from the URL fragment (`/live#token=...`, never sent to the server, so never in an
access log) and reads the same JSON API as any client, with the bearer header: the
integrations, their deliveries page by page, each one's per-minute timeline for its
chart, and one delivery whole for the detail view (live_api.py).

Fragment parameters: `integration=<id>` (one only), `status=<status>`, `limit=<n>`
(rows per page, 50), `pages=<n>` (pages shown), `minutes=<n>` (the chart's window,
30), `delivery=<integration id>/<delivery id>` (the detail view open).
"""

from __future__ import annotations

import secrets
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

REFRESH_MS = 2000


def _page() -> str:
    """page.html with page.js inlined (one response; the script runs under a nonce)."""
    folder = resources.files("signal_dest_cio.host").joinpath("live_page")
    script = folder.joinpath("page.js").read_text(encoding="utf-8")
    return folder.joinpath("page.html").read_text(encoding="utf-8").replace("__SCRIPT__", script)


PAGE = _page()

router = APIRouter(include_in_schema=False)


@router.get("/live", response_class=HTMLResponse)
def live_page() -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    page = PAGE.replace("__NONCE__", nonce).replace("__REFRESH__", str(REFRESH_MS))
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(
        page, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"}
    )
