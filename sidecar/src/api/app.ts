import type { TokenSet } from "@clawguard/shared/http/auth";
import { queryInt } from "@clawguard/shared/http/body";
import { errorResponse, notFound, onError } from "@clawguard/shared/http/on-error";
import type { Logger } from "@clawguard/shared/log";
import {
  EXPOSITION_CONTENT_TYPE,
  ExpositionWriter,
  writeFamilies,
} from "@clawguard/shared/metrics/exposition";
import { AGENT_FAMILIES, type AgentSample } from "@clawguard/shared/metrics/families";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Shipper } from "../sinks/shipper/index.ts";
import type { Spool } from "../sinks/spool/spool.ts";
import {
  DEFAULT_READ_LIMIT,
  MAX_READ_LIMIT,
  parseLineRange,
  type ReadMode,
  readSpill,
} from "../sources/exec-guard/read.ts";
import type { SpillStore } from "../sources/exec-guard/spill.ts";
import type { LlmGuard } from "../sources/llm-proxy/index.ts";

export interface SidecarApiDeps {
  agent: string;
  workspace: string;
  tokens: TokenSet<string>;
  bodyLimitBytes: number;
  spill: SpillStore;
  spool: Spool;
  shipper: Shipper;
  /** The context guard, when the sidecar runs one: its providers' health shows in /readyz. */
  llm?: Pick<LlmGuard, "health">;
  /** The agent's health: probes, and what else degrades it (provider auth, oversize memory). */
  health?: () => { state: string; reasons: string[]; probes: unknown[] };
  /** Memory file contents waiting for the collector. */
  blobs?: { readonly status: unknown };
  /** This clock against the collector's, as the heartbeats measure it (undefined: not yet). */
  clock?: () => { offsetMs: number; rttMs: number; measuredAt: string; skewed: boolean } | undefined;
  /** Whether the memory watcher has caught up and watches (a first start on many files takes a while). */
  memory?: { readonly watching: boolean };
  /** Why the disk degrades the sidecar (free space on the workspace's and state dir's filesystems). */
  disk?: () => string[];
  /** Why the inbox's drafts cannot be read now (a linked inbox), when so. */
  inbox?: () => string | undefined;
  /** This agent as the collector's /metrics shows it: served at GET /metrics (sidecar token). */
  metricsAgent?: () => AgentSample;
  log: Logger;
}

/** Shipping stuck for this long is reported as degraded in /readyz. */
const SHIPPER_STUCK_MS = 60_000;

/**
 * What is wrong with the audit trail's way out, each with what to do: events the collector
 * rejected (kept in the dead-letter file) and a collector failing for a minute or more.
 */
function shipperDegraded(shipper: Shipper["status"]): string[] {
  const reasons: string[] = [];
  if (shipper.rejected > 0)
    reasons.push(
      `dead_letter: ${shipper.rejected} event(s) the collector rejected are kept in the sidecar's dead-letter.jsonl (shipper.dead_lettered events say why)`,
    );
  const since = shipper.failingSince ? Date.parse(shipper.failingSince) : Number.NaN;
  if (Date.now() - since >= SHIPPER_STUCK_MS)
    reasons.push(
      `shipper: no event delivered since ${shipper.failingSince}: ${(shipper.lastError ?? "").slice(0, 200)}`,
    );
  return reasons;
}

/**
 * The sidecar's control API: health, and paged (redacted) spill reads. There is no exec over
 * HTTP: the agent runs its commands itself (`clawguard exec`, in its own container), and a
 * command run by the sidecar would run with the sidecar's rights (its secrets, its files).
 */
export function createSidecarApp(deps: SidecarApiDeps) {
  const app = new Hono();
  app.onError(onError(deps.log));
  app.notFound(notFound);

  app.get("/healthz", (c) => c.json({ ok: true, status: "live", agent: deps.agent }));
  app.get("/readyz", (c) => {
    const shipper = deps.shipper.status;
    const spoolFull = deps.spool.bytes >= deps.spool.maxBytes * 0.95;
    const failing = [
      ...(spoolFull ? ["spool_full"] : []),
      ...(shipper.state === "auth_failed" ? ["collector_auth"] : []),
    ];
    // The agent's state (probes, provider auth, memory) is reported; the sidecar itself is still ready.
    const llm = deps.llm?.health();
    const health = deps.health?.();
    // A clock off from the collector's is flagged, not a reason to stop: the agent still works,
    // its events' times are what is wrong (the collector also keeps its own receive time).
    const clock = deps.clock?.();
    const body = {
      ready: failing.length === 0,
      failing,
      ...(clock?.skewed ? { warnings: ["clock_skew"] } : {}),
      ...(clock ? { clock } : {}),
      degraded: [
        ...shipperDegraded(shipper),
        ...(deps.disk?.() ?? []),
        ...[deps.inbox?.()].filter((r) => r !== undefined),
      ],
      status: health?.state ?? "unknown",
      reasons: health?.reasons ?? [],
      ...(health && health.probes.length > 0 ? { probes: health.probes } : {}),
      agent: deps.agent,
      spool: {
        backlog: deps.spool.backlog,
        bytes: deps.spool.bytes,
        head: deps.spool.head.seq,
        acked: deps.spool.acked.seq,
      },
      shipper,
      ...(deps.blobs ? { blobs: deps.blobs.status } : {}),
      ...(deps.memory ? { memory: { watching: deps.memory.watching } } : {}),
      ...(llm && llm.providers.length > 0 ? { llm } : {}),
    };
    return c.json(body, failing.length === 0 ? 200 : 503);
  });

  const metricsAgent = deps.metricsAgent;
  if (metricsAgent) {
    // The collector's per-agent families, written by the same writer, for this one agent.
    app.get("/metrics", async (c) => {
      deps.tokens.authenticate(c);
      const w = new ExpositionWriter();
      await writeFamilies(w, AGENT_FAMILIES, [metricsAgent()], { now: Date.now() });
      return c.body(Buffer.concat(w.chunks()), 200, { "content-type": EXPOSITION_CONTENT_TYPE });
    });
  }

  app.use("/v1/*", async (c, next) => {
    deps.tokens.authenticate(c);
    await next();
  });
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: (c) => errorResponse(c, 413, "input.too_large", `body over ${deps.bodyLimitBytes} bytes`),
    }),
  );

  app.get("/v1/spill/:id", async (c) => {
    const lines = c.req.query("lines");
    const grep = c.req.query("grep");
    let mode: ReadMode;
    if (grep !== undefined) {
      mode = {
        kind: "grep",
        pattern: grep,
        maxMatches: queryInt(c, "maxMatches", 200, 10_000),
        ...(lines ? parseLineRange(lines) : {}),
      };
    } else if (lines !== undefined) {
      mode = { kind: "lines", ...parseLineRange(lines) };
    } else {
      mode = {
        kind: "bytes",
        offset: queryInt(c, "offset", 0),
        limit: queryInt(c, "limit", DEFAULT_READ_LIMIT, MAX_READ_LIMIT),
      };
    }
    const page = await readSpill(deps.spill, c.req.param("id"), mode);
    c.header("X-Clawguard-Total-Bytes", String(page.totalBytes));
    if (page.nextOffset !== undefined) c.header("X-Clawguard-Next-Offset", String(page.nextOffset));
    return c.text(`${page.text}${page.footer}\n`);
  });

  return app;
}
