import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { processAlive } from "@clawguard/shared/process";
import { freePort } from "./processes.ts";

/**
 * Test-only: a real OpenClaw gateway (npm `openclaw`), installed on demand into a cache folder
 * outside the repository and run as a child process with its own state directory, config and log
 * file (or on a state shared with other gateways, as failover has them), on a free port. Stopped by
 * PID, SIGTERM then SIGKILL, together with its descendants (its spawn broker runs in a session of
 * its own, so a process-group kill would miss it).
 */

export const OPENCLAW_VERSION = "2026.9.6";
/** OpenClaw's own floor (it uses node:sqlite). */
const MIN_NODE: readonly [number, number] = [24, 16];
const KEEP = 256 * 1024;

/** `$CLAWGUARD_OPENCLAW_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/clawguard/openclaw-<version>`. */
export function openclawDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLAWGUARD_OPENCLAW_DIR) return resolve(env.CLAWGUARD_OPENCLAW_DIR);
  const cache = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "clawguard", `openclaw-${OPENCLAW_VERSION}`);
}

const entryIn = (dir: string) => join(dir, "node_modules", "openclaw", "openclaw.mjs");
/** What the install writes in its folder's package.json, so that only our own folders are ever replaced. */
const MARKER = "clawguard-openclaw-cache";

function installedVersion(dir: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, "node_modules", "openclaw", "package.json"), "utf8"));
    return existsSync(entryIn(dir)) ? String(pkg.version) : undefined;
  } catch {
    return undefined;
  }
}

function isOurs(dir: string): boolean {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name === MARKER;
  } catch {
    return false;
  }
}

function checkNode(): void {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    throw new Error(
      `openclaw ${OPENCLAW_VERSION} needs Node >= ${MIN_NODE.join(".")}, this test runs on ${process.versions.node} (${process.execPath}): run it with the repository's Node (pnpm exec ...)`,
    );
  }
}

/**
 * The path of `openclaw.mjs` in `dir`, installing openclaw there with npm first when it is not
 * (about 30 s, 840 MB). npm runs on this process's Node, so the install scripts see Node 24 too.
 * The install goes to a folder beside `dir` and is renamed into place when complete: an
 * interrupted install is never taken for a finished one.
 */
export async function ensureOpenClaw(
  dir = openclawDir(),
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<string> {
  checkNode();
  const found = installedVersion(dir);
  if (found === OPENCLAW_VERSION) return entryIn(dir);
  if (existsSync(dir)) {
    if (!isOurs(dir)) {
      throw new Error(
        `${dir} exists but holds no openclaw ${OPENCLAW_VERSION} install of ours (found ${found ?? "none"}): remove it or point CLAWGUARD_OPENCLAW_DIR elsewhere`,
      );
    }
    rmSync(dir, { recursive: true, force: true }); // ours, but another version or unfinished
  }
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, "package.json"), `${JSON.stringify({ name: MARKER, private: true })}\n`);
  say(`installing openclaw ${OPENCLAW_VERSION} into ${dir} (about 30 s)`);
  const started = Date.now();
  try {
    await npmInstall(staging, `openclaw@${OPENCLAW_VERSION}`);
    if (installedVersion(staging) !== OPENCLAW_VERSION)
      throw new Error(`npm finished but ${entryIn(staging)} is missing`);
    try {
      renameSync(staging, dir);
    } catch (err) {
      // Another run finished first: use its install.
      if (installedVersion(dir) !== OPENCLAW_VERSION) throw err;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  say(`installed openclaw ${OPENCLAW_VERSION} in ${Math.round((Date.now() - started) / 1000)} s`);
  return entryIn(dir);
}

async function npmInstall(cwd: string, spec: string, timeoutMs = 10 * 60_000): Promise<void> {
  const child = spawn("npm", ["install", spec, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    // npm is a `#!/usr/bin/env node` script: with this Node first on PATH it runs on it.
    env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-KEEP);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | string>((done) => {
    child.once("error", (err) => done(err.message));
    child.once("exit", (c, signal) => done(c ?? String(signal)));
  });
  clearTimeout(timer);
  if (code !== 0) throw new Error(`npm install ${spec} in ${cwd} failed (${code}):\n${output.slice(-4000)}`);
}

// --- the gateway --------------------------------------------------------------------------------------------

export type OpenClawApi = "openai-completions" | "openai-responses" | "anthropic-messages";

export interface OpenClawModel {
  id: string;
  /** Required by OpenClaw (a config without it is refused); defaults to the id. */
  name?: string;
  /** What OpenClaw believes the window is: it sizes its prompt and its tool-result cuts by it. */
  contextWindow: number;
  maxTokens: number;
}

export interface OpenClawProvider {
  /** OpenAI: `<baseUrl>/chat/completions`; Anthropic: `<baseUrl>/v1/messages`. */
  baseUrl: string;
  api: OpenClawApi;
  apiKey?: string;
  models: OpenClawModel[];
}

/**
 * A state directory as a deployment's volume holds it: the config (a local gateway with token auth,
 * the providers), the home and the log file. Any number of gateways may be pointed at it, each on
 * its own port; OpenClaw lets one of them run at a time.
 */
export interface GatewayState {
  /** The folder it all lives in (the gateways' working directory). */
  readonly dir: string;
  /** OPENCLAW_STATE_DIR. */
  readonly state: string;
  readonly home: string;
  readonly configPath: string;
  /** OpenClaw's own JSONL log (`logging.file`): every gateway on the state writes to it. */
  readonly logFile: string;
  /** The gateway's auth token (Bearer), the same for every gateway on the state. */
  readonly token: string;
}

export interface StateOptions {
  /** A folder of the test's own: state, config, home and logs go there. */
  dir: string;
  providers: Record<string, OpenClawProvider>;
  /** The default model, `<provider>/<model>`; default: the first provider's first model. */
  primary?: string;
}

export type GatewayOptions = {
  /** `openclaw.mjs`, from ensureOpenClaw(). */
  entry: string;
  /** Default: a free one. */
  port?: number;
  readyTimeoutMs?: number;
  /** From SIGTERM to SIGKILL. */
  stopGraceMs?: number;
} & (StateOptions | { /** A state from createState(), shared with other gateways. */ state: GatewayState });

export interface ChatTurn {
  /** `<provider>/<model>`, sent as `x-openclaw-model`. */
  model: string;
  /** The session: `agent:main:openai-user:<user>`. */
  user: string;
  content: string;
  timeoutMs?: number;
}

export interface ChatAnswer {
  status: number;
  body: unknown;
  /** The assistant's text, when the answer is a chat completion. */
  text: string | undefined;
  ms: number;
}

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly token: string;
  readonly configPath: string;
  readonly logFile: string;
  /** How long the start took, to `/readyz` saying ready. */
  readonly startMs: number;
  /** stdout and stderr so far (the last 256 KiB). */
  output(): string;
  /** The messages of the last `lines` entries of OpenClaw's JSONL log file. */
  logTail(lines?: number): string;
  /** One turn on the OpenAI-compatible endpoint. */
  chat(turn: ChatTurn): Promise<ChatAnswer>;
  /** SIGTERM, SIGKILL after the grace period, then whatever it left behind; idempotent. */
  stop(): Promise<void>;
}

/**
 * The config file OpenClaw gets: a local gateway with token auth and nothing running in the
 * background. Without `port`, each gateway is given its own (`--port`).
 */
export function gatewayConfig(options: {
  port?: number;
  token: string;
  logFile: string;
  providers: Record<string, OpenClawProvider>;
  primary: string;
}): Record<string, unknown> {
  const providers = Object.fromEntries(
    Object.entries(options.providers).map(([id, p]) => [
      id,
      { ...p, models: p.models.map((m) => ({ ...m, name: m.name ?? m.id })) },
    ]),
  );
  return {
    gateway: {
      mode: "local",
      ...(options.port === undefined ? {} : { port: options.port }),
      bind: "loopback",
      auth: { mode: "token", token: options.token },
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
    logging: { file: options.logFile },
    models: { mode: "merge", providers },
    agents: {
      defaults: {
        model: { primary: options.primary },
        skipBootstrap: true, // no BOOTSTRAP.md "birth sequence" in the system prompt
        heartbeat: { every: "0m" },
      },
    },
    plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } },
  };
}

/** Gateways not stopped yet: killed when this process exits, whatever the tests did. */
const running = new Set<{ pid: number; tree: () => number[] }>();
let exitHook = false;

/** Writes the config of a state for gateways to run on (see GatewayState). */
export function createState(options: StateOptions & { port?: number }): GatewayState {
  const dir = resolve(options.dir);
  const state = join(dir, "state");
  const home = join(dir, "home");
  mkdirSync(state, { recursive: true });
  mkdirSync(home, { recursive: true });
  const token = randomBytes(16).toString("hex");
  const configPath = join(state, "openclaw.json");
  const logFile = join(dir, "openclaw.log");
  const [firstId, first] = Object.entries(options.providers)[0] ?? [];
  const primary = options.primary ?? `${firstId}/${first?.models[0]?.id}`;
  const config = gatewayConfig({ port: options.port, token, logFile, providers: options.providers, primary });
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return { dir, state, home, configPath, logFile, token };
}

/**
 * How a gateway on `state` is run, listening on `port` on loopback: the program, its arguments, its
 * working directory and its whole environment. Gateways on one state differ only in the port.
 */
export function gatewayCommand(
  entry: string,
  state: GatewayState,
  port: number,
): { file: string; args: string[]; cwd: string; env: Record<string, string> } {
  return {
    file: process.execPath,
    args: [entry, "gateway", "run", "--port", String(port)],
    cwd: state.dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: state.home,
      OPENCLAW_STATE_DIR: state.state,
      OPENCLAW_CONFIG_PATH: state.configPath,
      OPENCLAW_NO_RESPAWN: "1", // the PID we hold is the gateway itself, not a launcher
      OPENCLAW_SKIP_CHANNELS: "1",
      OPENCLAW_DISABLE_BONJOUR: "1",
    },
  };
}

/**
 * Starts a gateway and resolves once `/readyz` says ready; rejects when it exits first (with its
 * exit code and output) or is not ready in time (it is stopped then).
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const port = options.port ?? (await freePort());
  // A state of its own has the port in its config too, as a deployment's would.
  const state = "state" in options ? options.state : createState({ ...options, port });
  const { configPath, logFile, token } = state;
  const command = gatewayCommand(options.entry, state, port);

  const started = Date.now();
  const child = spawn(command.file, command.args, {
    cwd: command.cwd,
    env: command.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`openclaw gateway did not start (${options.entry})`);
  const pid = child.pid;
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-KEEP);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  let known: number[] = [];
  const entry = {
    pid,
    // The descendants seen so far: after the gateway is gone they are orphans no ppid leads to.
    tree: () => {
      known = [...new Set([...known, ...descendants(pid)])];
      return known;
    },
  };
  running.add(entry);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const g of running) for (const p of [g.pid, ...g.tree()]) signal(p, "SIGKILL");
    });
  }

  const logTail = (lines = 40) => openclawLogTail(logFile, lines);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= stopTree(child, exited, entry.tree, options.stopGraceMs ?? 10_000).finally(() =>
      running.delete(entry),
    );
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = started + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(
        `openclaw gateway exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output.slice(-4000)}`,
      );
    }
    if (await gatewayReady(url)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `openclaw gateway not ready at ${url}/readyz after ${Date.now() - started} ms:\n${output.slice(-4000)}\n--- log\n${logTail()}`,
      );
    }
    entry.tree();
    await sleep(250);
  }
  const startMs = Date.now() - started;

  return {
    url,
    port,
    pid,
    token,
    configPath,
    logFile,
    startMs,
    output: () => output,
    logTail,
    chat(turn) {
      entry.tree();
      return chatTurn(url, token, turn);
    },
    stop,
  };
}

/** The messages of the last `lines` entries of OpenClaw's JSONL log file. */
export function openclawLogTail(logFile: string, lines = 40): string {
  let text: string;
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return "(no log file)";
  }
  const message = (line: string) => {
    try {
      const entry = JSON.parse(line) as { time?: string; message?: unknown; 1?: unknown };
      const said = typeof entry.message === "string" ? entry.message : JSON.stringify(entry[1] ?? entry);
      return `${entry.time ?? ""} ${said}`.slice(0, 600);
    } catch {
      return line.slice(0, 600);
    }
  };
  return text.trimEnd().split("\n").slice(-lines).map(message).join("\n");
}

/**
 * One turn on the OpenAI-compatible endpoint of the gateway (or of whatever forwards to one) at
 * `url`, with its auth `token`.
 */
export async function chatTurn(url: string, token: string, turn: ChatTurn): Promise<ChatAnswer> {
  const t0 = Date.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "x-openclaw-model": turn.model,
    },
    body: JSON.stringify({
      model: "openclaw/main",
      user: turn.user,
      messages: [{ role: "user", content: turn.content }],
    }),
    signal: AbortSignal.timeout(turn.timeoutMs ?? 90_000),
  });
  const raw = await response.text();
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // not JSON: kept as text
  }
  const content = (body as { choices?: { message?: { content?: unknown } }[] })?.choices?.[0]?.message
    ?.content;
  return {
    status: response.status,
    body,
    text: typeof content === "string" ? content : undefined,
    ms: Date.now() - t0,
  };
}

/** `/readyz` says `"ready":true` (any other path answers 200 with the Control UI's HTML). */
export async function gatewayReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { ready?: unknown };
    return response.ok && body.ready === true;
  } catch {
    return false;
  }
}

async function stopTree(
  child: ChildProcess,
  exited: Promise<void>,
  tree: () => number[],
  graceMs: number,
): Promise<void> {
  const pid = child.pid as number;
  const family = tree();
  if (child.exitCode === null && child.signalCode === null) {
    signal(pid, "SIGTERM");
    if ((await Promise.race([exited.then(() => true), sleep(graceMs, false)])) === false) {
      signal(pid, "SIGKILL");
      await exited;
    }
  }
  // Its children normally go with it (even when it died on its own); those still there after a
  // short wait are killed.
  const deadline = Date.now() + 3000;
  let left = family.filter(processAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = left.filter(processAlive);
  }
  for (const p of left) signal(p, "SIGKILL");
}

/**
 * kill -9 of `pid` and of every process below it, found while it still runs (its spawn broker has
 * a session of its own: a process-group kill would miss it).
 */
export function killTree(pid: number): void {
  for (const p of [pid, ...descendants(pid)]) signal(p, "SIGKILL");
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Every process below `root` (Linux /proc; elsewhere none are found and only `root` is stopped). */
export function descendants(root: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}
