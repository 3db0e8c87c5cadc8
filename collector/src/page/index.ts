import { readFileSync } from "node:fs";
import { LATENCY_BUCKETS_S } from "@clawguard/shared/stats";
import { unsafeCharsSource } from "@clawguard/shared/text/unsafe-chars";
import type { Context, Hono } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { ApiDeps } from "../api/app.ts";
import { pageAgent } from "./agent.ts";
import { type Frame, fleetFeed } from "./feed.ts";

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
  // Without the per-key config hashes (hundreds per agent, not shown), the LLM series merged: the
  // page gets what it shows.
  const agents = fleet.agents.map((a) => pageAgent(a));
  return { agents, drift: fleet.drift, incidents: incidents.incidents, alerts: deps.alerts?.firing() ?? [] };
}

/**
 * The live view built once and shared by every stream: a build started within `everyMs` of the
 * last one (or while it runs) is reused. Each stream built its own every 2 s before: ten open pages
 * made ten fleet views a tick and slowed everything else down (/readyz took 2 s).
 */
export function sharedView<T>(
  build: () => Promise<T>,
  everyMs: number,
  now: () => number = Date.now,
): () => Promise<T> {
  let last: { at: number; data: Promise<T> } | undefined;
  return () => {
    const at = now();
    if (!last || at - last.at >= everyMs) {
      const data = build();
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
 * server-sent events: a `fleet` event with the agents, open incidents and firing alerts at once,
 * then a `delta` event with what changed whenever something did (see feed.ts); a stream that cannot
 * be brought up to date by deltas gets a `fleet` event again.
 */
export function pageRoutes(app: Hono, deps: ApiDeps): void {
  const serve = (c: Context, body: string, type: string) =>
    c.body(body, 200, { ...HEADERS, "content-type": type });
  app.get("/fleet", (c) => serve(c, PAGE.html, "text/html; charset=utf-8"));
  app.get("/fleet/fleet.js", (c) => serve(c, PAGE.js, "text/javascript; charset=utf-8"));
  app.get("/fleet/fleet.css", (c) => serve(c, PAGE.css, "text/css; charset=utf-8"));
  // Half the streams' period: each stream sees a view at most 1 s older than its tick.
  // The frame (and its delta) computed once per build, for every stream.
  const feed = fleetFeed();
  const view = sharedView(() => liveView(deps).then(feed), STREAM_EVERY_MS / 2);
  app.get("/v1/fleet/stream", (c) => {
    deps.readTokens.authenticate(c);
    return streamSSE(c, async (stream) => {
      let sent = 0;
      let quiet = 0;
      while (!stream.aborted && !stream.closed) {
        const frame = await view();
        if (frame.seq !== sent) {
          await send(stream, frame, sent);
          sent = frame.seq;
          quiet = 0;
        } else if (++quiet % 10 === 0) await stream.write(": still here\n\n");
        await stream.sleep(STREAM_EVERY_MS);
      }
    });
  });
}

/** The deltas from frame `sent` to `frame` when the stream had it, else the full view. */
async function send(stream: SSEStreamingApi, frame: Frame, sent: number): Promise<void> {
  const deltas = sent > 0 ? frame.since(sent) : undefined;
  if (!deltas) return stream.writeSSE({ event: "fleet", id: String(frame.seq), data: frame.full });
  for (const [i, data] of deltas.entries())
    await stream.writeSSE({ event: "delta", id: String(sent + i + 1), data });
}
