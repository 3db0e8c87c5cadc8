import type { TokenSet } from "@clawguard/shared/http/auth";
import { errorResponse, notFound, onError } from "@clawguard/shared/http/on-error";
import type { Logger } from "@clawguard/shared/log";
import type { Tracer } from "@opentelemetry/api";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AlertEngine } from "../alerts/index.ts";
import type { Fleet } from "../fleet/index.ts";
import type { SealKeyring } from "../ingest.ts";
import { CollectorMetrics } from "../metrics/index.ts";
import { pageRoutes } from "../page/index.ts";
import type { AuditStore } from "../store/audit-store.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { auditRoutes } from "./routes/audit.ts";
import { eventsRoutes } from "./routes/events.ts";
import { fleetRoutes } from "./routes/fleet.ts";
import { memoryRoutes } from "./routes/memory.ts";

export interface ApiDeps {
  store: AuditStore;
  /** Heartbeats, fleet state and incidents. */
  fleet: Fleet;
  /** Token -> the agent it may send events for. */
  ingestTokens: TokenSet<string>;
  readTokens: TokenSet<string>;
  /** Sidecars' sealing keys: their events must carry a seal made with one of them. */
  sealKeys?: SealKeyring;
  /** For every /v1 body but blobs. */
  bodyLimitBytes: number;
  /** For one memory file's content (PUT /v1/blobs/:sha256). */
  blobLimitBytes: number;
  maxBatchEvents: number;
  log: Logger;
  /** When set, each ingest batch is a span (attributes only, never the body). */
  tracer?: Tracer;
  /** The collector's counters for /metrics (a fresh set when not given). */
  metrics?: CollectorMetrics;
  /** The collector's own alerting: GET /v1/alerts lists what fires. */
  alerts?: AlertEngine;
}

export function createCollectorApp(deps: ApiDeps) {
  const app = new Hono();
  app.onError(onError(deps.log));
  app.notFound(notFound);
  app.get("/healthz", (c) => c.json({ ok: true, status: "live" }));
  app.get("/readyz", async (c) => {
    // Within a second each: a health check with a short timeout must hear "not ready", not nothing
    // (a paused Redis held /readyz 5 s).
    const checks = await Promise.allSettled([
      within(READY_CHECK_MS, deps.store.db.query("SELECT 1")),
      within(READY_CHECK_MS, deps.fleet.liveness.ping()),
    ]);
    const kinds = { store: deps.store.db.kind, liveness: deps.fleet.liveness.kind };
    const failing: string[] = (["store", "liveness"] as const).filter(
      (_, i) => checks[i]?.status === "rejected",
    );
    const errors = checks.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    // The store answers but cannot write (disk full, I/O): ingest answers 503 until it can again.
    const write = deps.store.db.health.failure;
    const degraded = write
      ? [`store_${write.reason}: ${deps.store.db.kind} cannot write since ${write.since}: ${write.message}`]
      : [];
    if (write && !failing.includes("store")) failing.push("store");
    if (failing.length === 0) return c.json({ ready: true, failing: [], degraded, ...kinds });
    return c.json(
      { ready: false, failing, degraded, ...kinds, error: [...errors, ...degraded].join("; ") },
      503,
    );
  });
  const limit = bodyLimit({
    maxSize: deps.bodyLimitBytes,
    onError: (c) =>
      errorResponse(
        c,
        413,
        "input.too_large",
        `body over ${deps.bodyLimitBytes} bytes (ingest.bodyLimitBytes): send smaller batches`,
      ),
  });
  // Blob uploads have their own limit (after their token is checked): see routes/memory.ts.
  const metrics = deps.metrics ?? new CollectorMetrics();
  app.use("/v1/events", async (c, next) => {
    await next();
    metrics.ingestBatches.inc({ status: String(c.res.status) });
  });
  app.use("/v1/heartbeats", async (c, next) => {
    await next();
    metrics.heartbeats.inc({ status: String(c.res.status) });
  });
  // Behind the read token, like the rest of what the collector shows (Prometheus: authorization).
  app.get("/metrics", async (c) => {
    deps.readTokens.authenticate(c);
    // Sent a chunk at a time: tens of megabytes in one write would hold the event loop.
    const chunks = await metrics.render(() => deps.fleet.view(), deps.store.db);
    let next = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks[next++];
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    });
    return c.body(body, 200, { "content-type": metrics.registry.contentType });
  });
  app.get("/v1/alerts", (c) => {
    deps.readTokens.authenticate(c);
    return c.json({ alerts: deps.alerts?.firing() ?? [] });
  });
  app.use("/v1/*", (c, next) => (c.req.path.startsWith("/v1/blobs/") ? next() : limit(c, next)));
  const tracer = deps.tracer;
  if (tracer) {
    app.use("/v1/events", (c, next) =>
      tracer.startActiveSpan("collector.ingest", async (span) => {
        try {
          await next();
        } finally {
          span.setAttribute("http.response.status_code", c.res.status);
          span.end();
        }
      }),
    );
  }
  eventsRoutes(app, { ...deps, metrics });
  auditRoutes(app, deps);
  memoryRoutes(app, deps, new MemoryStore(deps.store.db));
  fleetRoutes(app, deps);
  pageRoutes(app, deps);
  return app;
}

/** How long /readyz waits for each of its checks. */
const READY_CHECK_MS = 1000;

/** `work`, or a rejection saying it did not answer within `ms`. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
