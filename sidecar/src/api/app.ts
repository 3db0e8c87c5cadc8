import { statSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { ClawguardError, isClawguardError } from "@clawguard/shared/errors";
import { storableProblem } from "@clawguard/shared/events/bounds";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import type { TokenSet } from "@clawguard/shared/http/auth";
import { queryInt, readJson } from "@clawguard/shared/http/body";
import { errorResponse, notFound, onError } from "@clawguard/shared/http/on-error";
import type { Logger } from "@clawguard/shared/log";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { EventBus } from "../bus.ts";
import type { Shipper } from "../sinks/shipper/index.ts";
import type { Spool } from "../sinks/spool/spool.ts";
import { MAX_EXEC_BYTES, MAX_EXEC_TIMEOUT_MS } from "../sources/exec-guard/config.ts";
import type { ExecGuard } from "../sources/exec-guard/index.ts";
import {
  DEFAULT_READ_LIMIT,
  MAX_READ_LIMIT,
  parseLineRange,
  type ReadMode,
  readSpill,
} from "../sources/exec-guard/read.ts";
import type { SpillStore } from "../sources/exec-guard/spill.ts";
import { dropInInbox } from "../sources/inbox/index.ts";
import type { LlmGuard } from "../sources/llm-proxy/index.ts";

export interface SidecarApiDeps {
  agent: string;
  workspace: string;
  tokens: TokenSet<string>;
  bodyLimitBytes: number;
  execGuard: ExecGuard;
  spill: SpillStore;
  bus: EventBus;
  spool: Spool;
  inboxDir: string;
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
  env: NodeJS.ProcessEnv;
  log: Logger;
}

interface ExecBody {
  argv: string[];
  session?: string;
  cwd: string;
  maxBytes?: number;
  timeoutMs?: number;
}

function parseExecBody(body: unknown, workspace: string): ExecBody {
  const problems: string[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ClawguardError(
      "input.invalid",
      "expected a JSON object with argv (string[]) or command (string)",
    );
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!["argv", "command", "session", "cwd", "maxBytes", "timeoutMs"].includes(key))
      problems.push(`${key}: unknown field`);
  }
  let argv: string[] = [];
  if (b.argv !== undefined && b.command !== undefined) problems.push("argv, command: give one, not both");
  else if (b.argv !== undefined) {
    const bad =
      Array.isArray(b.argv) && b.argv.find((a) => typeof a === "string" && storableProblem(a) !== undefined);
    if (
      !Array.isArray(b.argv) ||
      b.argv.length === 0 ||
      b.argv.length > 4096 ||
      !b.argv.every((a) => typeof a === "string" && !a.includes("\0"))
    ) {
      problems.push("argv: expected 1-4096 strings without NUL bytes");
    } else if (typeof bad === "string") {
      problems.push(`argv: an argument ${storableProblem(bad)}`);
    } else argv = b.argv as string[];
  } else if (typeof b.command === "string" && b.command.trim() !== "" && !b.command.includes("\0")) {
    const problem = storableProblem(b.command);
    if (problem) problems.push(`command: ${problem}`);
    argv = ["/bin/sh", "-c", b.command];
  } else
    problems.push("argv or command: expected argv (string[]) or command (a non-empty shell command line)");
  if (b.session !== undefined) {
    if (typeof b.session !== "string" || b.session.length === 0 || b.session.length > 256)
      problems.push("session: expected a string of 1-256 chars");
    else {
      const problem = storableProblem(b.session);
      if (problem) problems.push(`session: ${problem}`);
    }
  }
  const cwd = b.cwd === undefined ? workspace : parseCwd(b.cwd, workspace, problems);
  for (const [key, max] of [
    ["maxBytes", MAX_EXEC_BYTES],
    ["timeoutMs", MAX_EXEC_TIMEOUT_MS],
  ] as const) {
    const v = b[key];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max))
      problems.push(`${key}: expected an integer in 1..${max}, got ${typeof v === "number" ? v : typeof v}`);
  }
  if (problems.length > 0)
    throw new ClawguardError("input.invalid", problems.join("; "), { details: { problems } });
  const parsed: ExecBody = { argv, cwd: cwd ?? workspace };
  if (typeof b.session === "string") parsed.session = b.session;
  if (typeof b.maxBytes === "number") parsed.maxBytes = b.maxBytes;
  if (typeof b.timeoutMs === "number") parsed.timeoutMs = b.timeoutMs;
  return parsed;
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

/** Longest cwd accepted, and longest name in it (what Linux file systems allow). */
const MAX_CWD_CHARS = 4096;
const MAX_NAME_BYTES = 255;

/** A cwd inside the workspace that exists as a directory, or undefined with the problem added. */
function parseCwd(value: unknown, workspace: string, problems: string[]): string | undefined {
  if (typeof value !== "string" || value.length > MAX_CWD_CHARS) {
    problems.push("cwd: expected a directory inside the workspace");
    return undefined;
  }
  const problem = storableProblem(value);
  if (problem) {
    problems.push(`cwd: ${problem}`);
    return undefined;
  }
  const inside = resolve(workspace, value);
  const rel = relative(workspace, inside);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    problems.push("cwd: expected a directory inside the workspace");
    return undefined;
  }
  const long = inside.split(sep).find((name) => Buffer.byteLength(name) > MAX_NAME_BYTES);
  if (long) {
    problems.push(`cwd: a name of ${Buffer.byteLength(long)} bytes, expected at most ${MAX_NAME_BYTES}`);
    return undefined;
  }
  let directory = false;
  try {
    directory = statSync(inside).isDirectory();
  } catch {
    // Not there (or not reachable): said below.
  }
  if (!directory) {
    problems.push(`cwd: no such directory in the workspace: ${JSON.stringify(value.slice(0, 80))}`);
    return undefined;
  }
  return inside;
}

/** The sidecar's control API: health, the exec guard over HTTP, and paged spill reads. */
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
      degraded: shipperDegraded(shipper),
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

  app.post("/v1/exec", async (c) => {
    const body = parseExecBody(await readJson(c), deps.workspace);
    const result = await deps.execGuard.run({ ...body, env: deps.env });
    let event: AuditEvent | undefined;
    try {
      [event] = await deps.bus.publish([result.event]);
    } catch (err) {
      if (!isClawguardError(err, "spool.full")) throw err;
      // The command has run: its event must not be lost. The inbox is drained when the spool has room.
      dropInInbox(deps.inboxDir, result.event);
    }
    const binary = result.outcome?.binary === true && result.kind === "output";
    return c.json({
      event_id: result.event.id,
      seq: event?.seq ?? null,
      kind: result.kind,
      exit_code: result.exitCode,
      output: result.text.toString(binary ? "base64" : "utf8"),
      output_encoding: binary ? "base64" : "utf8",
      spill_id: result.outcome?.spilled ? result.outcome.id : null,
      bytes: result.outcome?.bytes ?? 0,
      lines: result.outcome?.lines ?? 0,
      sha256: result.outcome?.sha256 ?? null,
    });
  });

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
