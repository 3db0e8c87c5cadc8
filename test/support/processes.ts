import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";

/** Test-only: the real `clawguard` CLI run as child processes, tracked by PID and always cleaned up. */

export const CLI = fileURLToPath(new URL("../../deploy/src/cli/main.ts", import.meta.url));

/**
 * A port free on loopback right now, for a process started later to listen on. Taken from below
 * the kernel's ephemeral range where there is room: a port bind(0) hands out is one any outgoing
 * connection (a collector's to PostgreSQL, a sidecar's to the collector) may be given before that
 * process listens, and it then fails with EADDRINUSE (seen: a drill's router). Each vitest worker
 * picks in a slice of its own (VITEST_POOL_ID), so two files running at once never pick the same
 * port, and a process never hands out the same one twice.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; PORT_SLICE && attempt < 200; attempt++) {
    const port = PORT_SLICE.from + Math.floor(Math.random() * PORT_SLICE.size);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if ((await listenOnce(port)) !== undefined) return port;
  }
  return (await listenOnce(0)) as number;
}

const handedOut = new Set<number>();
const SLICES = 4;

/** This worker's ports: a quarter of those from 1024 up to the ephemeral range (up to 12 288); none when there are too few. */
function readPortSlice(): { from: number; size: number } | undefined {
  let low: number;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return undefined; // not Linux: bind(0)
  }
  const start = Math.max(1024, low - 12_288);
  const size = Math.floor((low - start) / SLICES);
  if (!Number.isInteger(low) || size < 256) return undefined;
  const worker = (Number(process.env.VITEST_POOL_ID ?? 1) - 1 + SLICES) % SLICES;
  return { from: start + worker * size, size };
}

const PORT_SLICE = readPortSlice();

/** Listens on `port` of loopback (0: any) and closes again: the port it got, or undefined when taken. */
async function listenOnce(port: number): Promise<number | undefined> {
  const server = createServer();
  server.listen(port, "127.0.0.1");
  try {
    await once(server, "listening");
  } catch {
    return undefined;
  }
  const got = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return got;
}

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr so far (the last 256 KiB). */
  output(): string;
  /** stdout alone (the last 256 KiB). */
  stdout(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Resolves once it is gone and its stdout and stderr are read to the end (a busy test process may read them after the exit). */
  readonly closed: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
}

const KEEP = 256 * 1024;

export class Processes {
  readonly #all = new Set<Managed>();

  /** Starts `clawguard <args>` with exactly `env` (plus PATH/HOME) in `cwd`. */
  cli(name: string, args: string[], env: Record<string, string>, cwd: string): Managed {
    return this.node(name, [CLI, ...args], env, cwd);
  }

  /** Starts `node <argv>` (a built file, e.g. an image's bin.js) as `cli` starts the CLI. */
  node(name: string, argv: string[], env: Record<string, string>, cwd: string): Managed {
    const child = spawn(process.execPath, argv, {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let stdout = "";
    const append = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-KEEP);
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-KEEP);
      append(chunk);
    });
    child.stderr?.on("data", append);
    const exited = new Promise<number | NodeJS.Signals>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal as NodeJS.Signals)));
    });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    if (child.pid === undefined) throw new Error(`${name}: did not start`);
    const managed: Managed = {
      name,
      child,
      pid: child.pid,
      output: () => output,
      stdout: () => stdout,
      exited,
      closed,
      kill: async (signal = "SIGTERM") => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, signal);
        return exited;
      },
    };
    this.#all.add(managed);
    exited.then(() => this.#all.delete(managed));
    return managed;
  }

  /**
   * A failover drill's sidecar for `agent` in `<dir>/ws-<agent>`: heartbeats every `heartbeatMs` to
   * `collectorUrl`, and with `probeUrl` an http probe of its gateway's readiness (every 200 ms, two
   * to fail or pass). Resolves once it answers /healthz.
   */
  async drillSidecar(o: {
    dir: string;
    agent: string;
    role: string;
    token: string;
    collectorUrl: string;
    heartbeatMs: number;
    probeUrl?: string | undefined;
  }): Promise<Managed> {
    const ws = join(o.dir, `ws-${o.agent}`);
    mkdirSync(join(ws, ".clawguard"), { recursive: true });
    const probes = o.probeUrl
      ? [{ name: "ready", kind: "http", url: o.probeUrl, expectBody: '"ready":true' }]
      : [];
    const config = {
      agent: o.agent,
      role: o.role,
      heartbeat: { intervalMs: o.heartbeatMs },
      probe: { intervalMs: 200, failuresToFail: 2, successesToPass: 2, probes },
    };
    writeFileSync(join(ws, "clawguard.yaml"), JSON.stringify(config, null, 2));
    const port = await freePort();
    const sidecar = this.cli(
      `sidecar-${o.agent}`,
      ["sidecar", "--config", join(ws, "clawguard.yaml")],
      {
        CLAWGUARD_WORKSPACE: ws,
        CLAWGUARD_INGEST_TOKEN: o.token,
        CLAWGUARD_COLLECTOR_URL: o.collectorUrl,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
        CLAWGUARD_LOG_LEVEL: "warn",
      },
      ws,
    );
    await waitUntilUp(`http://127.0.0.1:${port}/healthz`, sidecar);
    return sidecar;
  }

  /** kill -9 of everything still running. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.#all].map((p) => p.kill("SIGKILL")));
  }
}

/** Polls `url` until it answers 2xx; fails with the process output when it exits or time runs out. */
export async function waitUntilUp(url: string, proc: Managed, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} exited before it was up:\n${proc.output()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name} not up at ${url} after ${timeoutMs} ms:\n${proc.output()}`);
}

/** Runs `clawguard <args>` to completion (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 60_000,
): Promise<{ code: number | NodeJS.Signals; output: string; stdout: string }> {
  const proc = new Processes().cli(args[0] ?? "clawguard", args, env, cwd);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  await proc.closed;
  clearTimeout(timer);
  return { code, output: proc.output(), stdout: proc.stdout() };
}

export interface RunningCollector {
  managed: Managed;
  url: string;
  /** The read token for /v1/audit, fleet, incidents, memory. */
  read: string;
  /** Each agent's ingest token. */
  tokens: Record<string, string>;
}

/**
 * A collector on the embedded store in `dir` (or what `env` says), with a fresh ingest token for
 * each of `agents` and a read token; resolves once it is ready.
 */
export async function startCollector(
  procs: Processes,
  dir: string,
  agents: string[],
  env: Record<string, string> = {},
): Promise<RunningCollector> {
  const tokens = Object.fromEntries(agents.map((a) => [a, randomBytes(16).toString("hex")]));
  const read = randomBytes(16).toString("hex");
  writeFileSync(join(dir, "tokens"), agents.map((a) => `${a} ${tokens[a]}\n`).join(""));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const managed = procs.cli(
    "collector",
    ["collector"],
    {
      CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
      CLAWGUARD_COLLECTOR_DATA_DIR: join(dir, "collector-data"),
      CLAWGUARD_INGEST_TOKENS_FILE: join(dir, "tokens"),
      CLAWGUARD_READ_TOKEN: read,
      CLAWGUARD_LOG_LEVEL: "warn",
      ...env,
    },
    dir,
  );
  await waitUntilUp(`${url}/readyz`, managed, 60_000);
  return { managed, url, read, tokens };
}

/**
 * A sidecar for `workspace` with `config` (written there as clawguard.yaml) and no collector: its
 * events wait in its spool, in a state dir of its own (outside the workspace, as the sidecar
 * requires), where a test can read them. `cleanup` removes the state dir once the sidecar is gone.
 */
export async function startLoneSidecar(
  procs: Processes,
  workspace: string,
  config: unknown,
): Promise<{ sidecar: Managed; url: string; stateDir: string; cleanup(): void }> {
  const state = tempDir("clawguard-sidecar-state-");
  const file = join(workspace, "clawguard.yaml");
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  const [port, nobody] = [await freePort(), await freePort()];
  const sidecar = procs.cli(
    "sidecar",
    ["sidecar", "--config", file],
    {
      CLAWGUARD_WORKSPACE: workspace,
      CLAWGUARD_STATE_DIR: state.path,
      CLAWGUARD_INGEST_TOKEN: randomBytes(16).toString("hex"),
      CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${nobody}`,
      CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
    },
    workspace,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(`${url}/healthz`, sidecar);
  return { sidecar, url, stateDir: state.path, cleanup: state.cleanup };
}
