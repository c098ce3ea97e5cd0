"use strict";
// The /live page's script. It reads only the admin JSON API, with the token from the
// URL fragment (never sent to the server); the token then leaves the address bar and
// stays in this tab's sessionStorage.
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") || sessionStorage.getItem("signal-admin-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("signal-admin-token", token);
  params.delete("token");
  history.replaceState(null, "", "#" + params.toString());
}
const only = params.get("integration");
const pageSize = Math.min(200, Math.max(1, parseInt(params.get("limit") || "50", 10) || 50));
const chartMinutes = Math.min(180, Math.max(1, parseInt(params.get("minutes") || "30", 10) || 30));
let pages = Math.max(1, parseInt(params.get("pages") || "1", 10) || 1);
let statusFilter = params.get("status") || "";
let timer = null;
const state = document.getElementById("state");
const older = document.getElementById("older");
const filter = document.getElementById("status-filter");
const detail = document.getElementById("detail");
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { delivered: "#2e9e5e", failed: "#d6453d", filtered: "#9aa3b5", latency: "#3a66d4" };

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function cell(row, text, className) {
  const td = element("td", text == null ? "" : text, className);
  row.appendChild(td);
  return td;
}

function badge(text, className) {
  return element("span", text, "status " + className);
}

function describe(input) {
  if (!input || typeof input !== "object") return "";
  const what = input.event || input.name || "";
  const source = input.context && input.context.source;
  const from = source && source.type === "customer_io_reporting_webhook"
    ? " (from Customer.io " + source.integration_id + ")" : "";
  return (what ? input.type + " · " + what : String(input.type || "")) + from;
}

function ruleName(rule) {  // issue 16's mappings: a name, {name|id}, or a list of them
  if (rule == null) return "";
  if (Array.isArray(rule)) return rule.map(ruleName).filter(Boolean).join(", ");
  if (typeof rule === "object") return String(rule.name || rule.id || JSON.stringify(rule));
  return String(rule);
}

function hashWith(key, value) {
  const next = new URLSearchParams(location.hash.slice(1));
  if (value == null || value === "") next.delete(key); else next.set(key, value);
  return "#" + next.toString();
}

// -- the deliveries table -----------------------------------------------------------

async function deliveriesOf(integration) {
  const base = "/v1/admin/integrations/" + encodeURIComponent(integration.id) +
    "/deliveries?limit=" + pageSize + (statusFilter ? "&status=" + statusFilter : "");
  let rows = [], cursor = null, counts = integration.deliveries || {};
  for (let page = 0; page < pages; page++) {
    const answer = await api(base + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    rows = rows.concat(answer.data);
    counts = answer.counts;
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return { rows, counts, more: cursor != null };
}

function renderRows(groups) {
  const rows = [];
  for (const group of groups) for (const d of group.rows) rows.push([group.integration, d]);
  rows.sort((a, b) => (b[1].updated_at || "").localeCompare(a[1].updated_at || "") ||
    b[1].id - a[1].id);
  const body = document.getElementById("rows");
  body.replaceChildren();
  let anyRule = false;
  for (const [integration, d] of rows) {
    const tr = element("tr", null, "delivery");
    const held = d.status === "pending" && d.held_by;
    // Only what waits is held back by a pause: a settled row is not "paused".
    const paused = integration.status === "paused" && d.status === "pending" && !d.test;
    tr.dataset.status = held ? "held" : d.status;
    tr.dataset.messageId = d.message_id;
    tr.dataset.deliveryId = d.id;
    tr.dataset.integrationId = integration.id;
    if (paused) tr.dataset.paused = "true";
    cell(tr, (d.updated_at || "").slice(11, 23)).title = d.updated_at;  // UTC, as the API says
    cell(tr, integration.name);
    cell(tr, integration.id, "mono nowrap");
    const message = cell(tr, "", "mono nowrap");
    const link = element("a", d.message_id);
    link.href = hashWith("delivery", integration.id + "/" + d.id);
    message.appendChild(link);
    cell(tr, describe(d.input));
    const rule = ruleName(d.rule);
    anyRule = anyRule || rule !== "";
    cell(tr, rule, "rule");
    const status = cell(tr, "", "nowrap");
    const shown = badge(held ? "held" : d.status, held ? "pending" : d.status);
    if (held) shown.title = "waits for " + d.held_by.message_id;
    status.appendChild(shown);
    if (paused) {
      status.appendChild(document.createTextNode(" "));
      status.appendChild(badge("paused", "paused"));
    }
    cell(tr, d.outcome ? d.outcome.kind + " · " + d.outcome.code : "");
    cell(tr, d.response_status);
    cell(tr, d.attempts);
    const pause = integration.paused || {};
    cell(tr, d.reason ? d.reason.code + ": " + d.reason.message
      : held ? "held behind " + d.held_by.message_id
      : paused ? "waits: integration paused (" + (pause.code || "paused") + ")" : "",
    "reason");
    tr.addEventListener("click", (event) => {
      if (event.target.tagName !== "A") location.hash = hashWith("delivery", integration.id + "/" + d.id);
    });
    body.appendChild(tr);
  }
  document.body.classList.toggle("has-rules", anyRule);
  return rows.length;
}

// -- one card per integration: status, pause reason, counts, the chart ---------------

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = text;
  return node;
}

function chart(timeline) {
  const width = 360, left = 34, barsTop = 6, barsHeight = 56, latencyTop = 82, latencyHeight = 30;
  const buckets = timeline.buckets;
  const step = Math.max(2, Math.floor((width - left - 4) / buckets.length));
  const most = Math.max(1, ...buckets.map((b) => b.delivered + b.failed + b.filtered));
  const slowest = Math.max(1, ...buckets.map((b) => (b.latency_ms ? b.latency_ms.p50 : 0)));
  const root = svg("svg", { class: "chart", width, height: 122, viewBox: "0 0 " + width + " 122",
    role: "img", "aria-label": "deliveries and latency per minute" });
  root.appendChild(svg("text", { x: 0, y: barsTop + 8, "font-size": 10, fill: "#5b6475" }, String(most)));
  root.appendChild(svg("text", { x: 0, y: barsTop + barsHeight, "font-size": 10, fill: "#5b6475" }, "0"));
  if (buckets.some((b) => b.latency_ms)) {
    root.appendChild(svg("text", { x: 0, y: latencyTop + 8, "font-size": 10, fill: "#5b6475" },
      Math.round(slowest) + "ms"));
  }
  root.appendChild(svg("line", { x1: left, x2: width, y1: barsTop + barsHeight + 0.5,
    y2: barsTop + barsHeight + 0.5, stroke: "#c9ceda" }));
  const points = [];
  buckets.forEach((b, index) => {
    const x = left + index * step;
    let bottom = barsTop + barsHeight;
    for (const [key, colour] of [["delivered", COLOURS.delivered], ["failed", COLOURS.failed],
      ["filtered", COLOURS.filtered]]) {
      const height = Math.round((b[key] / most) * barsHeight);
      if (height <= 0) continue;
      bottom -= height;
      const bar = svg("rect", { x, y: bottom, width: step - 2, height, fill: colour,
        "shape-rendering": "crispEdges", class: "bar " + key });
      bar.appendChild(svg("title", {}, b.at + ": " + b[key] + " " + key));
      root.appendChild(bar);
    }
    if (b.latency_ms) {
      const y = latencyTop + latencyHeight - Math.round((b.latency_ms.p50 / slowest) * latencyHeight);
      points.push((x + step / 2 - 1) + "," + y);
      const dot = svg("rect", { x: x + Math.floor(step / 2) - 3, y: y - 2, width: 5, height: 5,
        fill: COLOURS.latency, "shape-rendering": "crispEdges", class: "latency" });
      dot.appendChild(svg("title", {}, b.at + ": p50 " + b.latency_ms.p50 + " ms, max " +
        b.latency_ms.max + " ms"));
      root.appendChild(dot);
    }
  });
  if (points.length > 1) {
    root.insertBefore(svg("polyline", { points: points.join(" "), fill: "none",
      stroke: COLOURS.latency, "stroke-width": 1 }), root.firstChild);
  }
  return root;
}

function card(integration, counts, timeline) {
  const box = element("div", null, "integration");
  box.dataset.integrationId = integration.id;
  const title = element("h2", integration.name + " ");
  title.appendChild(element("span", integration.id, "id"));
  title.appendChild(document.createTextNode(" "));
  title.appendChild(badge(integration.status, integration.status));
  box.appendChild(title);
  if (integration.paused) {
    const p = integration.paused;
    box.appendChild(element("p", "paused since " + (p.at || "?") + ": " + p.code + " — " +
      (p.message || "") + " (fix it, then POST …/resume)", "pause-reason"));
  }
  box.appendChild(element("p", ["pending", "delivered", "filtered", "dead_lettered"]
    .map((s) => (counts[s] || 0) + " " + s.replace("_", "-")).join(" · "), "counts"));
  if (timeline) {
    const t = timeline.totals;
    const lat = timeline.buckets.filter((b) => b.latency_ms).map((b) => b.latency_ms.max);
    box.appendChild(element("p", "last " + timeline.minutes + " min, per minute: " +
      t.delivered + " delivered (green), " + t.failed + " failed (red), " + t.filtered +
      " filtered (grey); latency p50 (blue)" + (lat.length ? ", slowest " +
      Math.round(Math.max(...lat)) + " ms" : "") +
      (timeline.complete ? "" : " · from the newest deliveries only"), "legend"));
    box.appendChild(chart(timeline));
  }
  return box;
}

// -- the detail of one delivery -----------------------------------------------------

function pretty(value) {
  return element("pre", JSON.stringify(value, null, 2));
}

function renderDetail(d) {
  detail.replaceChildren();
  const close = element("button", "Close");
  close.type = "button";
  close.id = "close-detail";
  close.addEventListener("click", () => { location.hash = hashWith("delivery", null); });
  detail.appendChild(close);
  detail.appendChild(element("h2", "Delivery " + d.id + " · " + d.message_id));
  const facts = element("dl");
  const fact = (name, value) => {
    if (value == null || value === "") return;
    facts.appendChild(element("dt", name));
    facts.appendChild(element("dd", value));
  };
  fact("integration", d.integration_id);
  fact("status", d.status + (d.test ? " (test event)" : ""));
  fact("outcome", d.outcome ? d.outcome.kind + " · " + d.outcome.code +
    (d.outcome.message ? ": " + d.outcome.message : "") : "");
  fact("reason", d.reason ? d.reason.code + ": " + d.reason.message : "");
  fact("rule", ruleName(d.rule));
  fact("response status", d.response_status);
  fact("attempts", d.attempts);
  fact("revision", d.revision);
  fact("held behind", d.held_by ? d.held_by.message_id : "");
  fact("queued", d.queued_at);
  fact("next attempt", d.next_attempt_at);
  fact("updated", d.updated_at);
  detail.appendChild(facts);
  detail.appendChild(element("h3", "Input"));
  detail.appendChild(pretty(d.input));
  detail.appendChild(element("h3", "Vendor requests"));
  if (!d.requests || d.requests.length === 0) detail.appendChild(element("p", "none: nothing was sent"));
  const worked = (d.requests || []).some((r) => r.status == null);
  if (worked) {
    // The worker sends events in batches and keeps no copy of a batch: what one event
    // becomes is worked out from it (under the revision it was tried with); the answers
    // are the delivery's response status and, per attempt, the history.
    detail.appendChild(element("p", (d.status === "delivered"
      ? "sent in a batch, answered " + (d.response_status ?? "?") + "; "
      : "each attempt's answer is in the history below; ") +
      "what this event becomes on its own, under revision " + d.revision + ":", "note"));
  }
  for (const request of d.requests || []) {
    const box = element("div", null, "request");
    const status = request.status != null ? " → " + request.status : "";
    box.appendChild(element("code", request.method + " " + request.url + status));
    box.appendChild(pretty(request.json !== undefined ? request.json : request.body));
    detail.appendChild(box);
  }
  detail.appendChild(element("h3", "History"));
  const table = element("table", null, "history");
  const head = element("tr");
  for (const name of ["At", "Kind", "Code", "Status", "Retry after", "Next attempt", "Note"]) {
    head.appendChild(element("th", name));
  }
  table.appendChild(head);
  for (const entry of d.history || []) {
    const row = element("tr");
    for (const value of [entry.at, entry.kind, entry.code, entry.status, entry.retry_after,
      entry.next_attempt_at, entry.message || (entry.reason && entry.reason.message)]) {
      cell(row, value == null ? "" : value);
    }
    table.appendChild(row);
  }
  detail.appendChild(table);
  detail.hidden = false;
}

async function refreshDetail() {
  const chosen = new URLSearchParams(location.hash.slice(1)).get("delivery");
  if (!chosen || !chosen.includes("/")) { detail.hidden = true; return; }
  const [integration, id] = chosen.split("/");
  try {
    renderDetail(await api("/v1/admin/integrations/" + encodeURIComponent(integration) +
      "/deliveries/" + encodeURIComponent(id)));
  } catch (error) {
    detail.replaceChildren(element("p", "cannot load delivery " + chosen + ": " + error.message));
    detail.hidden = false;
  }
}

// -- the loop -------------------------------------------------------------------------

async function refresh() {
  clearTimeout(timer);
  try {
    const listed = await api("/v1/admin/integrations");
    const chosen = listed.data.filter((i) => !only || i.id === only);
    const groups = await Promise.all(chosen.map(async (integration) => {
      const path = "/v1/admin/integrations/" + encodeURIComponent(integration.id) +
        "/timeline?minutes=" + chartMinutes;
      const [found, timeline] = await Promise.all([deliveriesOf(integration), api(path)]);
      return { integration, timeline, ...found };
    }));
    document.getElementById("integrations").replaceChildren(
      ...groups.map((g) => card(g.integration, g.counts, g.timeline)));
    const shown = renderRows(groups);
    const total = groups.reduce((sum, g) => sum + (statusFilter ? g.counts[statusFilter] || 0
      : Object.values(g.counts).reduce((a, b) => a + b, 0)), 0);
    older.hidden = !groups.some((g) => g.more);
    state.textContent = "showing " + shown + " of " + total + (statusFilter ? " " + statusFilter : "") +
      " deliveries across " + chosen.length + " integration(s) · updated " +
      new Date().toLocaleTimeString();
    await refreshDetail();
  } catch (error) {
    state.textContent = token ? "cannot load: " + error.message : "open /live#token=<admin token>";
  }
  timer = setTimeout(refresh, __REFRESH__);
}

filter.value = statusFilter;
filter.addEventListener("change", () => {
  statusFilter = filter.value;
  pages = 1;
  history.replaceState(null, "", hashWith("status", statusFilter));
  refresh();
});
older.addEventListener("click", () => { pages += 1; refresh(); });
window.addEventListener("hashchange", refreshDetail);
refresh();
