// The fleet page: plain JavaScript, no build step. Every request carries the read token (kept in
// this tab's sessionStorage); live updates come from GET /v1/fleet/stream (server-sent events read
// with fetch, which unlike EventSource can send the token in a header).

const BUCKETS = __LATENCY_BUCKETS__;
const $ = (id) => document.getElementById(id);
// What agents write is shown as text: HTML-escaped, and control, bidi and invisible characters
// (which would reverse or hide what follows; the set is shared/src/text/unsafe-chars.ts, put here
// when the page is served) shown as their escapes. Newlines are kept.
const UNSAFE = new RegExp(__UNSAFE_CHARS__, "gu");
const escapeOf = (c) => {
  const code = c.codePointAt(0);
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`;
  return code <= 0xffff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\u{${code.toString(16)}}`;
};
const HTML = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (v) =>
  String(v ?? "")
    .replace(UNSAFE, escapeOf)
    .replace(/[&<>"']/g, (c) => HTML[c]);
let token = sessionStorage.getItem("clawguard.read") || "";
let agents = [];
let byName = new Map();
/** The sequence number of the last stream event applied (0: none yet). */
let seq = 0;

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (res.status === 401) throw Object.assign(new Error("the read token was refused"), { auth: true });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function p95(h) {
  if (!h || h.count === 0) return undefined;
  const rank = 0.95 * h.count;
  let lower = 0,
    below = 0;
  for (let i = 0; i < BUCKETS.length; i++) {
    const n = h.buckets[i] ?? 0;
    if (n >= rank) return lower + (BUCKETS[i] - lower) * ((rank - below) / Math.max(1, n - below));
    lower = BUCKETS[i];
    below = n;
  }
  return Infinity;
}

// Per agent object: an agent unchanged by a delta keeps its object, and its figures.
const llmCache = new WeakMap();
function llmOf(a) {
  if (!llmCache.has(a)) llmCache.set(a, llmOfSeries(a));
  return llmCache.get(a);
}

function llmOfSeries(a) {
  const series = a.stats?.llm ?? [];
  const sum = (f) => series.reduce((t, s) => t + f(s), 0);
  const merged = {
    buckets: BUCKETS.map((_, i) => sum((s) => s.latency.buckets[i] ?? 0)),
    count: sum((s) => s.latency.count),
  };
  return {
    calls: sum((s) => Object.values(s.calls).reduce((t, n) => t + n, 0)),
    errors: sum((s) => Object.values(s.errors).reduce((t, n) => t + n, 0)),
    p95: p95(merged),
    input: sum((s) => s.inputTokens),
    output: sum((s) => s.outputTokens),
    cacheRead: sum((s) => s.cacheReadTokens),
  };
}

const age = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120
    ? `${s} s ago`
    : s < 7200
      ? `${Math.round(s / 60)} min ago`
      : `${Math.round(s / 3600)} h ago`;
};
const stateOf = (a) => (a.stale ? "stale" : a.state);
const fmt = (x) => (x === undefined ? "" : !Number.isFinite(x) ? "> 120 s" : `${x.toFixed(1)} s`);

const matches = (a, q) => !q || `${a.agent} ${a.role} ${stateOf(a)}`.toLowerCase().includes(q);
const filterText = () => $("filter").value.trim().toLowerCase();
// A row's data-agent as the browser reads it back (esc's entities decoded, its escapes kept).
const keyOf = (name) => String(name).replace(UNSAFE, escapeOf);

function rowHtml(a) {
  const l = llmOf(a);
  const probes = a.probes
    .map(
      (p) =>
        `<span class="${p.state === "passing" ? "healthy" : p.state === "failing" ? "unhealthy" : "unknown"} state">${esc(p.name)}</span>`,
    )
    .join(" ");
  return `<tr data-agent="${esc(a.agent)}"><td>${esc(a.agent)}</td><td>${esc(a.role)}</td><td><span class="state ${stateOf(a)}">${stateOf(a)}</span></td><td>${a.reasons.map(esc).join("<br>")}</td><td>${probes}</td><td>${age(a.lastSeen)}</td><td>${l.calls}</td><td>${l.errors}</td><td>${fmt(l.p95)}</td></tr>`;
}

function renderSummary() {
  const count = (s) => agents.filter((a) => stateOf(a) === s).length;
  $("summary").textContent =
    `${agents.length} agents: ${count("healthy")} healthy, ${count("degraded")} degraded, ${count("unhealthy")} unhealthy, ${count("stale")} stale`;
}

/** Every row again: the first view, a full view, or a new filter. */
function renderAgents() {
  const q = filterText();
  $("agents").tBodies[0].innerHTML = agents
    .filter((a) => matches(a, q))
    .map(rowHtml)
    .join("");
  renderSummary();
}

/** The row of the first agent after agents[i] that has one (null: none, the end). */
function nextRow(rows, i) {
  for (let j = i + 1; j < agents.length; j++) {
    const row = rows.get(keyOf(agents[j].agent));
    if (row) return row;
  }
  return null;
}

/**
 * Only the rows of the agents `changed` (names; each replaced, added or removed): the other rows
 * are not touched, so a text selection in them survives. The heartbeat ages refreshed in place.
 */
function updateRows(changed) {
  const body = $("agents").tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.agent, r]));
  const q = filterText();
  const make = document.createElement("template");
  for (const [i, a] of agents.entries()) {
    const key = keyOf(a.agent);
    const old = rows.get(key);
    if (!changed.has(a.agent)) {
      const cell = old?.cells[5];
      if (cell && cell.textContent !== age(a.lastSeen)) cell.textContent = age(a.lastSeen);
    } else if (!matches(a, q)) old?.remove();
    else {
      make.innerHTML = rowHtml(a);
      const row = make.content.firstElementChild;
      if (old) old.replaceWith(row);
      else body.insertBefore(row, nextRow(rows, i));
    }
  }
  for (const name of changed) if (!byName.has(name)) rows.get(keyOf(name))?.remove();
  renderSummary();
}

/** Horizontal bars, the top 15 by value: one SVG, no library. */
// keepZero: a bar at 0 is shown (a 0 % cache hit ratio is the worst case, not "nothing").
function bars(id, items, format = (v) => String(Math.round(v)), keepOrder = false, keepZero = false) {
  const shown = items.filter((i) => i.value > 0 || (keepZero && i.value === 0));
  const top = (keepOrder ? shown : shown.sort((a, b) => b.value - a.value)).slice(0, 15);
  if (top.length === 0) {
    $(id).innerHTML = '<p class="muted">nothing yet</p>';
    return;
  }
  const finite = top.map((i) => (Number.isFinite(i.value) ? i.value : 0));
  const max = Math.max(...finite, 1e-9);
  const h = 18;
  $(id).innerHTML = `<svg viewBox="0 0 400 ${top.length * h}" role="img">${top
    .map((it, i) => {
      const w = Number.isFinite(it.value) ? Math.max(1, (it.value / max) * 240) : 240;
      return `<text x="0" y="${i * h + 13}">${esc(it.label.slice(0, 22))}</text><rect x="120" y="${i * h + 3}" width="${w}" height="${h - 6}" fill="${it.colour ?? "#4a6fa5"}"></rect><text x="${124 + w}" y="${i * h + 13}">${esc(format(it.value))}</text>`;
    })
    .join("")}</svg>`;
}

function renderCharts() {
  const l = agents.map((a) => ({ a, l: llmOf(a) }));
  bars(
    "chart-latency",
    l.map(({ a, l }) => ({
      label: a.agent,
      value: l.p95 ?? 0,
      colour: (l.p95 ?? 0) > 30 ? "#d0021b" : "#4a6fa5",
    })),
    fmt,
  );
  bars(
    "chart-errors",
    l.map(({ a, l }) => ({ label: a.agent, value: l.errors, colour: "#d0021b" })),
  );
  // The 7 agents using the most tokens, each with its input and output bar.
  const heavy = [...l].sort((x, y) => y.l.input + y.l.output - (x.l.input + x.l.output)).slice(0, 7);
  bars(
    "chart-tokens",
    heavy.flatMap(({ a, l }) => [
      { label: `${a.agent} in`, value: l.input },
      { label: `${a.agent} out`, value: l.output, colour: "#7b9e3e" },
    ]),
    undefined,
    true,
  );
  // The 15 lowest ratios, worst first: an agent at 0 % is the one to see.
  bars(
    "chart-cache",
    l
      .filter(({ l }) => l.input > 0)
      .map(({ a, l }) => ({
        label: a.agent,
        value: l.cacheRead / l.input,
        colour: l.cacheRead / l.input < 0.7 ? "#f5a623" : "#2e7d32",
      }))
      .sort((x, y) => x.value - y.value),
    (v) => `${Math.round(v * 100)} %`,
    true,
    true,
  );
  bars(
    "chart-memory",
    agents.flatMap((a) =>
      Object.entries(a.stats?.memoryBytes ?? {}).map(([file, value]) => ({
        label: `${a.agent} ${file}`,
        value,
      })),
    ),
  );
}

function renderAlerts(alerts) {
  $("alerts").innerHTML =
    alerts.length === 0
      ? '<p class="muted">none</p>'
      : alerts
          .map(
            (a) =>
              `<div class="alert ${esc(a.severity)}"><b>${esc(a.severity)} ${esc(a.alert)}</b> ${esc(a.summary)} <span class="muted">since ${esc(new Date(a.firedAt ?? a.since).toISOString())}</span></div>`,
          )
          .join("");
}

function renderIncidents(incidents) {
  $("incidents").innerHTML =
    incidents.length === 0
      ? '<p class="muted">none open</p>'
      : incidents
          .map(
            (i) =>
              `<div class="incident"><b>${esc(i.agent)}</b> <span class="state ${esc(i.state)}">${esc(i.state)}</span> since ${esc(i.openedAt)}<ol>${i.timeline
                .map(
                  (e) =>
                    `<li>${esc(e.at)} ${esc(e.kind)}${e.action ? ` <b>${esc(e.action)}</b>: ${esc(e.detail)}` : ` → ${esc(e.toState)}${e.reasons.length ? `: ${esc(e.reasons.join("; "))}` : ""}`}</li>`,
                )
                .join("")}</ol></div>`,
          )
          .join("");
}

async function search(event) {
  event?.preventDefault();
  const form = new FormData($("search"));
  const params = new URLSearchParams({ limit: "50" });
  for (const key of ["agent", "type", "since"]) if (form.get(key)) params.set(key, String(form.get(key)));
  const body = $("audit").tBodies[0];
  try {
    const { events } = await api(`/v1/audit?${params}`);
    body.innerHTML =
      events
        .map(
          (e) =>
            `<tr><td>${esc(e.time)}</td><td>${esc(e.source.agent)}</td><td>${esc(e.type)}</td><td>${esc(e.severity)}</td><td class="attrs">${esc(JSON.stringify(e.attrs).slice(0, 300))}</td></tr>`,
        )
        .join("") || '<tr><td colspan="5" class="muted">no events</td></tr>';
  } catch (err) {
    body.innerHTML = `<tr><td colspan="5" class="error">${esc(err.message)}</td></tr>`;
  }
}

/**
 * Runs `task` once the browser has painted what is on the page now (or after 250 ms: a tab in the
 * background gets no animation frames).
 */
function afterPaint(task) {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    task();
  };
  requestAnimationFrame(() => setTimeout(run, 0));
  setTimeout(run, 250);
}
let chartsDue = false;
// The first view is shown (the agents' table), then the rest: the charts after its paint, and the
// audit search once (see open()). A view arriving before the charts were drawn only redraws them once.
let painted;
const firstPaint = new Promise((resolve) => {
  painted = resolve;
});

/**
 * A stream event applied: a full view (`full`) replaces everything; a delta (`from`: the event it
 * follows) replaces, adds and removes agents by name and only their rows. False when a delta does
 * not follow the last event applied (one was missed): the stream is opened again for a full view.
 */
function apply(view) {
  if (view.full) {
    agents = view.agents;
    byName = new Map(agents.map((a) => [a.agent, a]));
    renderAgents();
  } else {
    if (view.from !== seq) return false;
    const changed = new Set([...view.agents.map((a) => a.agent), ...view.removed]);
    for (const name of view.removed) byName.delete(name);
    for (const a of view.agents) byName.set(a.agent, a);
    agents = [...byName.values()].sort((x, y) => (x.agent < y.agent ? -1 : x.agent > y.agent ? 1 : 0));
    updateRows(changed);
  }
  seq = view.seq;
  if (view.alerts) renderAlerts(view.alerts);
  if (view.incidents) renderIncidents(view.incidents);
  if (!chartsDue) {
    chartsDue = true;
    afterPaint(() => {
      chartsDue = false;
      renderCharts();
    });
  }
  painted();
  return true;
}

async function stream() {
  for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
    let reader;
    try {
      const res = await fetch("/v1/fleet/stream", { headers: { authorization: `Bearer ${token}` } });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      $("live").className = "live on";
      $("live").textContent = "live";
      wait = 1000;
      reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5))
            .join("\n");
          if (data && !apply(JSON.parse(data))) throw Object.assign(new Error("missed"), { missed: true });
        }
      }
    } catch (err) {
      // A missed event: opened again at once, for a full view.
      seq = 0;
      if (err?.missed) {
        void reader?.cancel().catch(() => {});
        wait = 1000;
        continue;
      }
      // Said by the badge; tried again with backoff.
    }
    painted(); // no first view: the audit search is not held back for it
    $("live").className = "live off";
    $("live").textContent = "offline";
    await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * The token checked (a small request), then everything from the stream's first event; the audit
 * search waits for that first view's paint rather than compete with it.
 */
async function open() {
  try {
    renderAlerts((await api("/v1/alerts")).alerts);
    $("login").hidden = true;
    $("main").hidden = false;
    void stream();
    void firstPaint.then(() => afterPaint(search));
  } catch (err) {
    $("login").hidden = false;
    $("login-error").textContent = err.auth ? "That token was refused." : err.message;
  }
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("clawguard.read", token);
  void open();
});
$("filter").addEventListener("input", renderAgents);
$("search").addEventListener("submit", search);
if (token) void open();
else $("login").hidden = false;
