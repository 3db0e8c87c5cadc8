import { spawn } from "node:child_process";
import { resolveSecret } from "@clawguard/shared/config/load";
import { connectOnce } from "@clawguard/shared/net";
import {
  type ChatMemory,
  type ChatProbe,
  chatAnswerProblem,
  chatFailure,
  chatRequest,
  chatSessionUser,
} from "./chat.ts";
import type { ProbeConfig } from "./config.ts";

export interface ProbeResult {
  ok: boolean;
  /** What was seen, worded so a person knows what to check when it failed. */
  detail: string;
  ms: number;
}

/** What a probe is run with besides its config: the prober's interval, its memory, the clock. */
export interface ProbeContext {
  intervalMs: number;
  /** Kept by the prober for each probe from one run to the next. */
  memory: ChatMemory;
  now?: () => number;
  /** Aborts the probe (the sidecar is stopping): it then fails at once with `aborted`. */
  signal?: AbortSignal;
}

/** The detail of a probe cut short because the sidecar stops. */
export const ABORTED = "aborted: the sidecar is stopping";

/** Runs one probe once, never longer than `timeoutMs`, never throwing. */
export async function runProbe(
  probe: ProbeConfig,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  context: ProbeContext = { intervalMs: 10_000, memory: {} },
): Promise<ProbeResult> {
  const started = performance.now();
  const done = (ok: boolean, detail: string): ProbeResult => ({
    ok,
    detail,
    ms: Math.round(performance.now() - started),
  });
  const signal = context.signal
    ? AbortSignal.any([AbortSignal.timeout(timeoutMs), context.signal])
    : AbortSignal.timeout(timeoutMs);
  let result: ProbeResult;
  try {
    switch (probe.kind) {
      case "http":
        result = await httpProbe(probe, env, signal, done);
        break;
      case "chat":
        result = await chatProbe(probe, env, signal, context, done);
        break;
      case "tcp":
        result = await tcpProbe(probe, timeoutMs, signal, done);
        break;
      case "command":
        result = await commandProbe(probe, env, timeoutMs, signal, done);
        break;
    }
  } catch (err) {
    result = done(false, describeFailure(err, timeoutMs));
  }
  return context.signal?.aborted && !result.ok ? done(false, ABORTED) : result;
}

type Done = (ok: boolean, detail: string) => ProbeResult;

function authHeader(
  probe: { token?: { env?: string; file?: string } | undefined; name: string },
  env: NodeJS.ProcessEnv,
) {
  const token = resolveSecret(probe.token, env, `probe.probes.${probe.name}.token`);
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function httpProbe(
  probe: Extract<ProbeConfig, { kind: "http" }>,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  done: Done,
) {
  const response = await fetch(probe.url, { headers: authHeader(probe, env), signal });
  const body = await response.text();
  if (response.status !== probe.expectStatus) {
    return done(
      false,
      `HTTP ${response.status} from ${probe.url} (expected ${probe.expectStatus}): ${snippet(body)}`,
    );
  }
  if (probe.expectBody && !bodyMatches(body, probe.expectBody)) {
    const html = /^\s*<(!doctype|html)/i.test(body);
    return done(
      false,
      `HTTP ${response.status} from ${probe.url}, but the body does not match ${probe.expectBody}${html ? " (an HTML page: OpenClaw answers unknown paths with its Control UI; is the URL right?)" : `: ${snippet(body)}`}`,
    );
  }
  return done(true, `HTTP ${response.status}`);
}

async function chatProbe(
  probe: ChatProbe,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  context: ProbeContext,
  done: Done,
) {
  const memory = context.memory;
  const user = chatSessionUser(probe, context.intervalMs, (context.now ?? Date.now)());
  const response = await fetch(probe.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeader(probe, env) },
    body: JSON.stringify(chatRequest(probe, user)),
    signal,
  });
  const text = await response.text();
  if (response.status !== 200) return done(false, chatFailure(probe, response.status, text, memory, snippet));
  const problem = chatAnswerProblem(probe, text, snippet);
  if (problem) return done(false, problem);
  memory.providerRefusal = undefined;
  return done(true, `agent ${probe.agent} answered`);
}

async function tcpProbe(
  probe: Extract<ProbeConfig, { kind: "tcp" }>,
  timeoutMs: number,
  signal: AbortSignal,
  done: Done,
): Promise<ProbeResult> {
  const where = `${probe.host}:${probe.port}`;
  const outcome = await connectOnce(probe.host, probe.port, timeoutMs, signal);
  if (outcome.open) return done(true, `${where} accepts connections`);
  if (outcome.error)
    return done(false, `cannot connect to ${where}: ${describeFailure(outcome.error, timeoutMs)}`);
  return done(false, `no connection to ${where} within ${timeoutMs} ms`);
}

function commandProbe(
  probe: Extract<ProbeConfig, { kind: "command" }>,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  signal: AbortSignal,
  done: Done,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn(probe.argv[0] as string, probe.argv.slice(1), {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Killed on the timeout or when the sidecar stops (the timeout's own timer below says which).
    const kill = () => child.kill("SIGKILL");
    signal.addEventListener("abort", kill, { once: true });
    child.once("close", () => signal.removeEventListener("abort", kill));
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-2000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve(done(false, `cannot run ${probe.argv[0]}: ${err.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const last = output.trim().split("\n").at(-1) ?? "";
      if (signal === "SIGKILL")
        resolve(done(false, `${probe.argv.join(" ")} did not finish within ${timeoutMs} ms`));
      else if (code === 0) resolve(done(true, last || "exit 0"));
      else resolve(done(false, `${probe.argv.join(" ")} exited ${code}${last ? `: ${last}` : ""}`));
    });
  });
}

function bodyMatches(body: string, expect: string): boolean {
  const regex = /^\/(.*)\/([a-z]*)$/.exec(expect);
  return regex ? new RegExp(regex[1] as string, regex[2]).test(body) : body.includes(expect);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 160 ? `${flat.slice(0, 160)}…` : flat || "(empty body)";
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string }; code?: string };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  const code = e.cause?.code ?? e.code;
  if (code === "ECONNREFUSED") return "connection refused (is the process running and listening there?)";
  return e.cause?.message ?? e.message;
}
