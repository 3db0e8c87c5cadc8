import { statSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { draftEvent, type EventDraft, type EventSource } from "@clawguard/shared/events/envelope";
import { ulid } from "@clawguard/shared/ids";
import { redactText } from "@clawguard/shared/redact";
import { redactArgv } from "@clawguard/shared/redact/argv";
import { isoTime } from "@clawguard/shared/time";
import type { ExecGuardConfig } from "./config.ts";
import { auditFailure, recordIntent } from "./intent.ts";
import { MAX_EXEC_BYTES, MAX_EXEC_TIMEOUT_MS } from "./limits.ts";
import { evaluatePolicy, type PolicyDecision, type ScriptCache } from "./policy.ts";
import { renderPreview } from "./preview.ts";
import { EXIT_CANNOT_RUN, EXIT_NOT_FOUND, type RunOutcome, runGuarded } from "./run.ts";
import type { SpillStore } from "./spill.ts";

export { SpillStore } from "./spill.ts";

export interface ExecRequest {
  argv: readonly string[];
  session?: string | undefined;
  cwd: string;
  env: NodeJS.ProcessEnv;
  maxBytes?: number | undefined;
  timeoutMs?: number | undefined;
}

export interface ExecResponse {
  exitCode: number;
  /** What the caller shows: the output itself, a preview of it, or why it did not run. */
  kind: "output" | "preview" | "refused" | "failed";
  text: Buffer;
  /** The audit event for this exec: counts and hashes, never the output. */
  event: EventDraft;
  outcome?: RunOutcome;
  /** What the caller says on stderr besides (the command ran without its start event, ...). */
  warnings: string[];
}

export interface ExecGuardOptions {
  source: EventSource;
  spill: SpillStore;
  config: ExecGuardConfig;
  /** How a reader pages through a spill, e.g. `clawguard read`. */
  readCommand: string;
  /** Shell scripts the policy read before, kept between runs (the agent-side CLI). */
  scripts?: ScriptCache | undefined;
  /**
   * Records the `exec.started` event durably before the command starts (the agent-side CLI: its
   * inbox). When it throws, the command is refused (or run anyway: `exec.onAuditFailure`).
   */
  recordStart?: ((draft: EventDraft) => void) | undefined;
}

const MAX_COMMAND_CHARS = 1024;

/**
 * A per-request override of maxBytes or timeoutMs, checked against the same bounds as the config:
 * the pass-through buffer is maxBytes long, and a timer over 2^31-1 ms would fire at once.
 */
function checkLimit(name: string, value: number | undefined, max: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1 || value > max)) {
    throw new ClawguardError("input.invalid", `${name}: expected an integer in 1..${max}, got ${value}`);
  }
}

/**
 * The command line as the audit trail records it: redacted and bounded. The options that take a
 * password are redacted on the argv itself, before quoting (a quoted sshpass password), then the line.
 */
function auditCommand(argv: readonly string[]): string {
  const line = redactArgv(argv)
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)))
    .join(" ");
  return redactText(line).slice(0, MAX_COMMAND_CHARS);
}

/**
 * The exec guard: policy check, guarded run, preview, and the audit event. Delivery of the event
 * is the caller's (the sidecar publishes it; the agent-side CLI leaves it in the inbox).
 */
export function createExecGuard(options: ExecGuardOptions) {
  return {
    run: (request: ExecRequest): Promise<ExecResponse> => runExec(options, request),
  };
}

type Draft = (type: string, severity: EventDraft["severity"], attrs: Record<string, unknown>) => EventDraft;

/** One exec past the policy and the cwd check, as its stages pass it along. */
interface Exec {
  options: ExecGuardOptions;
  request: ExecRequest;
  /** The command line as the audit trail records it. */
  command: string;
  event: Draft;
  decision: PolicyDecision;
  runId: string;
  maxBytes: number;
  warnings: string[];
}

/** Stages: check, record the intent, run, then answer with the output or its preview. */
async function runExec(options: ExecGuardOptions, request: ExecRequest): Promise<ExecResponse> {
  checkLimit("maxBytes", request.maxBytes, MAX_EXEC_BYTES);
  checkLimit("timeoutMs", request.timeoutMs, MAX_EXEC_TIMEOUT_MS);
  const command = auditCommand(request.argv);
  const event: Draft = (type, severity, attrs) =>
    draftEvent({
      source: options.source,
      type,
      severity,
      session: request.session,
      attrs: { command, ...attrs },
    });

  const decision = await evaluatePolicy(options.config.policy, request.argv, {
    env: request.env,
    cwd: request.cwd,
    scripts: options.scripts,
  });
  const refused = refusedBefore(request, command, decision, event);
  if (refused) return refused;
  // The intent first, durably: a command that runs always has at least this event, even if
  // everything is killed -9 mid-run. No room for it: nothing runs unaudited (unless configured).
  const exec: Exec = {
    options,
    request,
    command,
    event,
    decision,
    runId: ulid(),
    maxBytes: request.maxBytes ?? options.config.maxBytes,
    warnings: [],
  };
  const unaudited = intent(exec);
  if (unaudited) return unaudited;
  const ran = await start(exec);
  if ("response" in ran) return ran.response;
  const { outcome } = ran;
  if (outcome.startFailure) {
    const hint = outcome.exitCode === EXIT_NOT_FOUND ? " (check the name and PATH)" : "";
    return {
      exitCode: outcome.exitCode,
      kind: "failed",
      text: Buffer.from(`clawguard: ${outcome.startFailure.message}${hint}\n`),
      event: event("exec.failed", "error", {
        run_id: exec.runId,
        reason: outcome.startFailure.kind,
        exit_code: outcome.exitCode,
      }),
      outcome,
      warnings: exec.warnings,
    };
  }
  return answer(exec, outcome);
}

/** The answer before anything runs: the policy refuses it, or its working directory is not there. */
function refusedBefore(
  request: ExecRequest,
  command: string,
  decision: PolicyDecision,
  event: Draft,
): ExecResponse | undefined {
  if (!decision.allowed) {
    const message = `clawguard: refused to run ${command}: it ${decision.reason}\n`;
    return {
      exitCode: EXIT_CANNOT_RUN,
      kind: "refused",
      text: Buffer.from(message),
      warnings: [],
      event: event("exec.denied", "warn", {
        rule: decision.rule ?? null,
        reason: decision.reason,
        ...(decision.unresolved ? { unresolved: decision.unresolved.slice(0, 8) } : {}),
      }),
    };
  }
  if (!statSync(request.cwd, { throwIfNoEntry: false })?.isDirectory()) {
    const message = `clawguard: cannot run ${command}: working directory ${request.cwd} does not exist\n`;
    return {
      exitCode: EXIT_CANNOT_RUN,
      kind: "failed",
      text: Buffer.from(message),
      warnings: [],
      event: event("exec.failed", "error", { reason: "bad_cwd" }),
    };
  }
  return undefined;
}

/** Records the `exec.started` event; the refusal when there is no room for it (and none is allowed). */
function intent(exec: Exec): ExecResponse | undefined {
  const { options, request, event, runId, warnings } = exec;
  const refusal = recordIntent({
    recordStart: options.recordStart,
    onAuditFailure: options.config.onAuditFailure,
    spillDir: options.spill.dir,
    maxBytes: exec.maxBytes,
    command: exec.command,
    warnings,
    started: () =>
      event("exec.started", "info", {
        run_id: runId,
        argv0: basename(request.argv[0] ?? ""),
        cwd: redactText(request.cwd).slice(0, MAX_COMMAND_CHARS),
      }),
  });
  if (!refusal) return undefined;
  return {
    exitCode: EXIT_CANNOT_RUN,
    kind: "refused",
    text: Buffer.from(refusal.message),
    event: event("exec.refused", "error", {
      run_id: runId,
      reason: "audit_unavailable",
      error: refusal.why,
    }),
    warnings,
  };
}

/** The guarded run; the answer instead when there is no file for its output. */
async function start(exec: Exec): Promise<{ outcome: RunOutcome } | { response: ExecResponse }> {
  const { options, request, maxBytes } = exec;
  const { config } = options;
  try {
    const outcome = await runGuarded(
      {
        id: exec.runId,
        argv: request.argv,
        cwd: request.cwd,
        env: request.env,
        maxBytes,
        previewBytes: Math.min(config.previewBytes, Math.max(maxBytes, 512)),
        timeoutMs: request.timeoutMs ?? config.timeoutMs,
        killGraceMs: config.killGraceMs,
      },
      options.spill,
    );
    return { outcome };
  } catch (err) {
    // No spill file for its output (disk full, quota): it did not start.
    const response: ExecResponse = {
      exitCode: EXIT_CANNOT_RUN,
      kind: "failed",
      text: Buffer.from(
        `clawguard: cannot run ${exec.command}: no file for its output (${auditFailure(err)})\n`,
      ),
      event: exec.event("exec.failed", "error", {
        run_id: exec.runId,
        reason: "no_output_file",
        error: auditFailure(err),
      }),
      warnings: exec.warnings,
    };
    return { response };
  }
}

/** A command that ran: its `exec.completed` event, and its output whole, or a preview of its spill. */
async function answer(exec: Exec, outcome: RunOutcome): Promise<ExecResponse> {
  const { request, decision, warnings } = exec;
  const attrs = {
    run_id: exec.runId,
    argv0: basename(request.argv[0] ?? ""),
    exit_code: outcome.exitCode,
    signal: outcome.signal,
    timed_out: outcome.timedOut,
    duration_ms: outcome.durationMs,
    bytes: outcome.bytes,
    lines: outcome.lines,
    sha256: outcome.sha256,
    binary: outcome.binary,
    error_lines: outcome.scanner.errorCount,
    spilled: outcome.spilled,
    spill_id: outcome.spilled ? outcome.id : null,
    // What the policy could not check and let run (a deny-list is a guard, not a sandbox).
    ...(decision.unresolved ? { unresolved: decision.unresolved.slice(0, 8) } : {}),
  };
  const severity = outcome.exitCode === 0 ? "info" : "warn";
  const draft = exec.event("exec.completed", severity, attrs);
  if (!outcome.spilled) {
    const note = outcome.timedOut
      ? `\n[clawguard] timed out after ${request.timeoutMs ?? exec.options.config.timeoutMs} ms: stopped\n`
      : "";
    return {
      exitCode: outcome.exitCode,
      kind: "output",
      text: Buffer.concat([outcome.head, Buffer.from(note)]),
      event: draft,
      outcome,
      warnings,
    };
  }
  const preview = await previewOf(exec, outcome);
  return {
    exitCode: outcome.exitCode,
    kind: "preview",
    text: Buffer.from(preview),
    event: draft,
    outcome,
    warnings,
  };
}

/** A spilled output's preview, after its meta file (a convenience for `read`: the preview shows without it). */
async function previewOf(exec: Exec, outcome: RunOutcome): Promise<string> {
  const { options, request, maxBytes, warnings } = exec;
  await options.spill
    .writeMeta({
      id: outcome.id,
      agent: options.source.agent,
      session: request.session,
      command: exec.command,
      createdAt: isoTime(outcome.startedAt),
      bytes: outcome.bytes,
      lines: outcome.lines,
      sha256: outcome.sha256,
      exitCode: outcome.exitCode,
      binary: outcome.binary,
    })
    .catch((err) =>
      warnings.push(
        `clawguard: warning: spill ${outcome.id}: no room for its meta file (${auditFailure(err)})\n`,
      ),
    );
  const file = await open(options.spill.path(outcome.id), "r");
  try {
    return await renderPreview({
      outcome,
      previewBytes: Math.min(options.config.previewBytes, Math.max(maxBytes, 512)),
      maxBytes,
      readCommand: options.readCommand,
      spill: file,
    });
  } finally {
    await file.close();
  }
}

export type ExecGuard = ReturnType<typeof createExecGuard>;
