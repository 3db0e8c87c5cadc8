import { readFileSync } from "node:fs";
import { LATENCY_BUCKETS_S } from "@clawguard/shared/stats";
import { unsafeCharsSource } from "@clawguard/shared/text/unsafe-chars";
import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { ApiDeps } from "../api/app.ts";

const file = (name: string) => readFileSync(new URL(name, import.meta.url), "utf8");
/** Read once: the page is three static files, no build step. */
const PAGE = {
  html: file("fleet.html"),
  js: file("fleet.js")
    .replace("__LATENCY_BUCKETS__", JSON.stringify(LATENCY_BUCKETS_S))
    .replace("__UNSAFE_CHARS__", JSON.stringify(unsafeCharsSource({ newline: true }))),
  css: file("fleet.css"),
};
const HEADERS = {
  "cache-control": "no-cache",
  "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
};
/** How often the stream looks for a change to send. */
const STREAM_EVERY_MS = 2000;

async function liveView(deps: ApiDeps) {
  const [fleet, incidents] = await Promise.all([
    deps.fleet.view(),
    deps.fleet.incidents.list({ open: true, limit: 50 }),
  ]);
  // Without the per-key config hashes (hundreds per agent, not shown): the page gets what it shows.
  const agents = fleet.agents.map(({ configKeys: _keys, ...agent }) => agent);
  return { agents, drift: fleet.drift, incidents: incidents.incidents, alerts: deps.alerts?.firing() ?? [] };
}

/**
 * The live view built once and shared by every stream: a build started within `everyMs` of the
 * last one (or while it runs) is reused. Each stream built its own every 2 s before: ten open pages
 * made ten fleet views a tick and slowed everything else down (/readyz took 2 s).
 */
export function sharedView(
  build: () => Promise<unknown>,
  everyMs: number,
  now: () => number = Date.now,
): () => Promise<string> {
  let last: { at: number; data: Promise<string> } | undefined;
  return () => {
    const at = now();
    if (!last || at - last.at >= everyMs) {
      const data = build().then((v) => JSON.stringify(v));
      const built = { at, data };
      last = built;
      data.catch(() => {
        if (last === built) last = undefined; // the next stream tries again
      });
    }
    return last.data;
  };
}

/**
 * GET /fleet: the fleet page (its files hold no data, so they are served without a token; the page
 * asks for the read token and sends it with every request). GET /v1/fleet/stream (read token):
 * server-sent events, one `fleet` event with the agents, open incidents and firing alerts at once
 * and again whenever they change.
 */
export function pageRoutes(app: Hono, deps: ApiDeps): void {
  const send = (c: Context, body: string, type: string) =>
    c.body(body, 200, { ...HEADERS, "content-type": type });
  app.get("/fleet", (c) => send(c, PAGE.html, "text/html; charset=utf-8"));
  app.get("/fleet/fleet.js", (c) => send(c, PAGE.js, "text/javascript; charset=utf-8"));
  app.get("/fleet/fleet.css", (c) => send(c, PAGE.css, "text/css; charset=utf-8"));
  // Half the streams' period: each stream sees a view at most 1 s older than its tick.
  const view = sharedView(() => liveView(deps), STREAM_EVERY_MS / 2);
  app.get("/v1/fleet/stream", (c) => {
    deps.readTokens.authenticate(c);
    return streamSSE(c, async (stream) => {
      let last = "";
      let quiet = 0;
      while (!stream.aborted && !stream.closed) {
        const data = await view();
        if (data !== last) {
          await stream.writeSSE({ event: "fleet", data });
          last = data;
          quiet = 0;
        } else if (++quiet % 10 === 0) await stream.write(": still here\n\n");
        await stream.sleep(STREAM_EVERY_MS);
      }
    });
  });
}
