"""The /live page: a read-only view of recent deliveries that refreshes itself.

The page itself holds no data. Its script reads the admin token from the URL
fragment (`/live#token=...`, never sent to the server, so never in an access
log) and reads the same JSON API as any client, with the bearer header.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

REFRESH_MS = 2000

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Live events · Signal host</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #state { color: #5b6475; margin-bottom: 16px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e3e6ec; }
  th { background: #f3f5f9; font-weight: 600; }
  td.message { font-family: ui-monospace, monospace; font-size: 12px; }
  .status { padding: 2px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; }
  .delivered { background: #d8f5e1; color: #11693a; }
  .filtered { background: #e8eaf0; color: #3c4457; }
  .pending { background: #fff1cc; color: #7a5300; }
  .dead_lettered { background: #ffd9d9; color: #8f1d1d; }
  .paused { color: #8f1d1d; font-weight: 600; }
</style>
</head>
<body>
<h1>Live events</h1>
<div id="state">loading…</div>
<table>
  <thead><tr>
    <th>Updated</th><th>Integration</th><th>Message ID</th><th>Event</th><th>Status</th>
    <th>Outcome</th><th>Response</th><th>Attempts</th><th>Reason</th>
  </tr></thead>
  <tbody id="rows"></tbody>
</table>
<script nonce="__NONCE__">
"use strict";
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") || sessionStorage.getItem("signal-admin-token") || "";
if (params.get("token")) sessionStorage.setItem("signal-admin-token", token);
const only = params.get("integration");
const state = document.getElementById("state");

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function describe(input) {
  if (!input || typeof input !== "object") return "";
  const what = input.event || input.name || "";
  const source = input.context && input.context.source;
  const from = source && source.type === "customer_io_reporting_webhook"
    ? " (from Customer.io " + source.integration_id + ")" : "";
  return (what ? input.type + " · " + what : String(input.type || "")) + from;
}

function render(groups) {
  const rows = [];
  for (const [integration, deliveries] of groups) {
    for (const d of deliveries) rows.push([integration, d]);
  }
  rows.sort((a, b) => (b[1].updated_at || "").localeCompare(a[1].updated_at || ""));
  const body = document.getElementById("rows");
  body.replaceChildren();
  for (const [integration, d] of rows) {
    const tr = document.createElement("tr");
    tr.className = "delivery";
    const held = d.status === "pending" && d.held_by;
    tr.dataset.status = held ? "held" : d.status;
    tr.dataset.messageId = d.message_id;
    cell(tr, d.updated_at);
    cell(tr, integration.name + (integration.status === "paused" ? " (paused)" : ""),
         integration.status === "paused" ? "paused" : "");
    cell(tr, d.message_id, "message");
    cell(tr, describe(d.input));
    const status = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = "status " + (held ? "pending" : d.status);
    badge.textContent = held ? "held" : d.status;
    status.appendChild(badge);
    if (held) badge.title = "waits for " + d.held_by.message_id;
    cell(tr, d.outcome ? d.outcome.kind + " · " + d.outcome.code : "");
    cell(tr, d.response_status);
    cell(tr, d.attempts);
    cell(tr, d.reason ? d.reason.code + ": " + d.reason.message
             : held ? "held behind " + d.held_by.message_id : "");
    body.appendChild(tr);
  }
  return rows.length;
}

async function refresh() {
  try {
    const listed = await api("/v1/admin/integrations");
    const chosen = listed.data.filter((i) => !only || i.id === only);
    const groups = await Promise.all(chosen.map(async (i) => {
      const path = "/v1/admin/integrations/" + encodeURIComponent(i.id) + "/deliveries?limit=50";
      return [i, (await api(path)).data];
    }));
    const count = render(groups);
    state.textContent = count + " deliveries across " + chosen.length +
      " integration(s) · updated " + new Date().toLocaleTimeString();
  } catch (error) {
    state.textContent = token ? "cannot load: " + error.message : "open /live#token=<admin token>";
  }
  setTimeout(refresh, __REFRESH__);
}
refresh();
</script>
</body>
</html>
"""

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
