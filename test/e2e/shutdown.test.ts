import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { draftEvent } from "@clawguard/shared/events/envelope";
import { LEASE_RENEW_MS, LEASE_STALE_MS, lockOwnerOf } from "@clawguard/shared/fs-lock";
import { processAlive } from "@clawguard/shared/process";
import { tempDir } from "@clawguard/shared/testing";
import { workspacePaths } from "@clawguard/sidecar/paths";
import { dropInInbox } from "@clawguard/sidecar/sources/inbox/drop";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  privatePostgresMissing,
  privateRedisMissing,
  startPrivatePostgres,
  startPrivateRedis,
} from "../support/private-stores.ts";
import { CLI, freePort, type Managed, Processes, startCollector, waitUntilUp } from "../support/processes.ts";

/**
 * Stopping, as a supervisor does it, with work in flight that never finishes: a chat probe, a
 * heartbeat and a shipment to a collector, and an LLM relay, all to a stand-in that takes requests
 * and never answers. The sidecar must be gone within 2 s of SIGTERM, SIGINT or SIGHUP, its spool
 * lock released, and a replacement on the same state dir must start at once; after kill -9 the
 * lock left behind is stale to the replacement; a start that fails leaves no lock; and a signal to
 * the command a user runs (`pnpm clawguard`, `node_modules/.bin/node`) reaches the sidecar.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const STOP_LIMIT_MS = 2_000;

/** Takes every request and never answers: a gateway, a collector and an LLM upstream that hang. */
let silent: Server;
let silentUrl: string;
const hung: IncomingMessage[] = [];

const procs = new Processes();
const ws = tempDir("clawguard-shutdown-ws-");
const state = tempDir("clawguard-shutdown-state-");
const configFile = join(ws.path, "..", `${ws.path.split("/").at(-1)}.yaml`);
/** Stop times measured here, for the README. */
const measured: Record<string, number> = {};

beforeAll(async () => {
  silent = createServer((req) => hung.push(req));
  silent.listen(0, "127.0.0.1");
  await once(silent, "listening");
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  writeFileSync(
    configFile,
    `probe:
  intervalMs: 200
  timeoutMs: 600000
  probes:
    - { name: chat, kind: chat, url: ${silentUrl}/v1/chat/completions }
heartbeat: { intervalMs: 1000 }
shipper: { timeoutMs: 600000 }
llm:
  providers:
    stub:
      upstream: ${silentUrl}/v1
      api: openai-completions
      models: [{ id: m, contextWindow: 100000 }]
`,
  );
});

afterAll(async () => {
  await procs.cleanup();
  silent.closeAllConnections();
  silent.close();
  ws.cleanup();
  state.cleanup();
  console.log(`stop times (ms): ${JSON.stringify(measured)}`);
});

afterEach(() => {
  hung.length = 0;
});

const _lockFile = () => join(state.path, "spool", "LOCK");

async function sidecarEnv(): Promise<{ env: Record<string, string>; url: string }> {
  const port = await freePort();
  return {
    url: `http://127.0.0.1:${port}`,
    env: {
      CLAWGUARD_CONFIG: configFile,
      CLAWGUARD_WORKSPACE: ws.path,
      CLAWGUARD_AGENT: "main",
      CLAWGUARD_INGEST_TOKEN: "ingest-token",
      CLAWGUARD_STATE_DIR: state.path,
      CLAWGUARD_COLLECTOR_URL: silentUrl,
      CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
      CLAWGUARD_LOG_LEVEL: "info",
    },
  };
}

/** Until the stand-in holds a request on each of `paths` (the probe, the heartbeat, the shipment, the relay). */
async function untilHung(paths: string[], proc: Managed): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!paths.every((p) => hung.some((r) => r.url?.startsWith(p)))) {
    if (Date.now() > deadline)
      throw new Error(
        `not in flight: ${paths.filter((p) => !hung.some((r) => r.url?.startsWith(p)))}\n${proc.output()}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A sidecar with a probe, a heartbeat, a shipment and an LLM relay hung in flight. */
async function busySidecar(name: string): Promise<{ proc: Managed; relay: Promise<unknown> }> {
  const { env, url } = await sidecarEnv();
  // An event to ship: the shipment to the (hung) collector is then in flight too.
  const source = { agent: "main", role: "agent", host: "test" };
  dropInInbox(workspacePaths(ws.path, "main").inbox, draftEvent({ source, type: "test.event" }));
  const proc = procs.cli(name, ["sidecar"], env, ws.path);
  await waitUntilUp(`${url}/healthz`, proc);
  const relay = fetch(`${url}/llm/stub/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer client-key" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
  }).then(
    (r) => r.text(),
    (err: unknown) => err,
  );
  await untilHung(["/v1/chat/completions", "/v1/heartbeats", "/v1/events", "/v1/chat/completions"], proc);
  // The relay's upstream request too (a second hung /v1/chat/completions).
  const deadline = Date.now() + 10_000;
  while (hung.filter((r) => r.url === "/v1/chat/completions").length < 2 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  return { proc, relay };
}

/** Starts a replacement on the same state dir; resolves with how long it took to be up. */
async function replacementUp(name: string): Promise<number> {
  const { env, url } = await sidecarEnv();
  const t0 = performance.now();
  const proc = procs.cli(name, ["sidecar"], env, ws.path);
  await waitUntilUp(`${url}/healthz`, proc);
  const ms = performance.now() - t0;
  await proc.kill("SIGTERM");
  return ms;
}

describe("sidecar shutdown (real processes)", () => {
  it.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)(
    "%s with a chat probe, a heartbeat, a shipment and an LLM relay hung: gone within 2 s, lock released, replacement at once",
    async (signal) => {
      const { proc, relay } = await busySidecar(`sidecar-${signal}`);
      expect((lockOwnerOf(join(state.path, "spool")) ?? { pid: 0 }).pid).toBe(proc.pid);
      const t0 = performance.now();
      const code = await proc.kill(signal);
      const ms = performance.now() - t0;
      measured[signal] = Math.round(ms);
      expect(ms, proc.output()).toBeLessThan(STOP_LIMIT_MS);
      expect(code).toBe(0);
      expect(lockOwnerOf(join(state.path, "spool")) !== undefined).toBe(false);
      const out = proc.output();
      expect(out).toContain("probes aborted: the sidecar is stopping");
      expect(out).toContain("heartbeat aborted: the sidecar is stopping");
      expect(out).toContain("shipping aborted: the sidecar is stopping");
      expect(out).toMatch(/"msg":"stopped","ms":\d+/);
      // The relay's client was cut, not left hanging, and the relay is on the audit trail as aborted.
      await relay;
      const spool = join(state.path, "spool");
      const spooled = readdirSync(spool)
        .filter((f) => f.startsWith("seg-"))
        .map((f) => readFileSync(join(spool, f), "utf8"))
        .join("");
      expect(spooled).toContain('"error_type":"client_aborted"');
      measured[`replacement after ${signal}`] = Math.round(await replacementUp(`after-${signal}`));
    },
  );

  it("kill -9: the lock stays behind and the replacement takes it over as stale", async () => {
    const { proc } = await busySidecar("sidecar-kill9");
    await proc.kill("SIGKILL");
    expect((lockOwnerOf(join(state.path, "spool")) ?? { pid: 0 }).pid).toBe(proc.pid);
    measured["replacement after kill -9"] = Math.round(await replacementUp("after-kill9"));
  });

  it("a start that fails leaves no lock: a provider check before the lock, a port in use after it", async () => {
    const { env } = await sidecarEnv();
    const bad = procs.cli(
      "bad-provider",
      ["sidecar"],
      { ...env, CLAWGUARD_CONFIG: badProviderConfig() },
      ws.path,
    );
    expect(await bad.exited).toBe(78);
    expect(bad.output()).toContain("llm.providers.stub.apiKey");
    expect(lockOwnerOf(join(state.path, "spool")) !== undefined).toBe(false);

    const taken = createServer();
    taken.listen(0, "127.0.0.1");
    await once(taken, "listening");
    const port = (taken.address() as AddressInfo).port;
    const busy = procs.cli(
      "port-taken",
      ["sidecar"],
      { ...env, CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}` },
      ws.path,
    );
    expect(await busy.exited).not.toBe(0);
    expect(busy.output()).toContain("EADDRINUSE");
    taken.close();
    expect(lockOwnerOf(join(state.path, "spool")) !== undefined).toBe(false);
    await replacementUp("after-failed-start");
  });
});

function badProviderConfig(): string {
  const file = join(state.path, "..", `${state.path.split("/").at(-1)}-bad.yaml`);
  writeFileSync(
    file,
    `llm:
  providers:
    stub: { upstream: ${silentUrl}/v1, api: openai-completions, apiKey: { file: /nonexistent/key } }
`,
  );
  return file;
}

/** The sidecar's pid, from its lock, once a wrapper started it and it is up. */
async function sidecarPid(wrapper: ChildProcess, url: string, output: () => string): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (wrapper.exitCode !== null) throw new Error(`wrapper exited:\n${output()}`);
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return (lockOwnerOf(join(state.path, "spool")) ?? { pid: 0 }).pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not up:\n${output()}`);
}

async function untilGone(pid: number, limitMs: number): Promise<number> {
  const t0 = performance.now();
  while (processAlive(pid) && performance.now() - t0 < limitMs) await new Promise((r) => setTimeout(r, 10));
  return performance.now() - t0;
}

describe("the commands a user runs pass SIGTERM on to the sidecar", () => {
  const wrappers: ChildProcess[] = [];
  afterAll(() => {
    for (const w of wrappers) if (w.exitCode === null) w.kill("SIGKILL");
  });

  it.each([
    ["pnpm clawguard sidecar", "pnpm", ["-s", "clawguard", "sidecar"]],
    [
      "node_modules/.bin/node (the npm node shim)",
      join(ROOT, "node_modules/.bin/node"),
      ["sidecar/src/cli/bin.ts", "sidecar"],
    ],
  ])("%s: SIGTERM to its pid stops the sidecar within 2 s", async (name, command, args) => {
    const { env, url } = await sidecarEnv();
    mkdirSync(state.path, { recursive: true });
    let output = "";
    // The PATH of the user's shell: without this repo's node_modules/.bin, which vitest runs under
    // (there `#!/usr/bin/env node` would start pnpm itself behind the shim).
    const path = (process.env.PATH ?? "")
      .split(":")
      .filter((dir) => !resolve(ROOT, dir).startsWith(ROOT))
      .join(":");
    const wrapper = spawn(command, args, {
      cwd: ROOT,
      env: { PATH: path, HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    wrappers.push(wrapper);
    wrapper.stdout?.on("data", (d) => {
      output += d;
    });
    wrapper.stderr?.on("data", (d) => {
      output += d;
    });
    const pid = await sidecarPid(wrapper, url, () => output);
    try {
      wrapper.kill("SIGTERM");
      const ms = await untilGone(pid, 5_000);
      measured[name] = Math.round(ms);
      expect(processAlive(pid), output).toBe(false);
      expect(ms).toBeLessThan(STOP_LIMIT_MS);
      expect(lockOwnerOf(join(state.path, "spool")) !== undefined).toBe(false);
    } finally {
      if (processAlive(pid)) process.kill(pid, "SIGKILL");
    }
  });
});

describe("collector shutdown (real process)", () => {
  // Two starts of a collector on its embedded store (~4 s each on a quiet machine; a CI run with the
  // Docker tests beside it ran past 30 s): the 2 s is the stop's alone.
  it("SIGTERM with an ingest request hung mid-body: gone within 2 s, data dir lock released, restarts", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir("clawguard-shutdown-collector-");
    try {
      const c = await startCollector(procs, dir.path, ["main"]);
      const socket = await hangMidBody(c.url, c.tokens.main as string);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      const code = await c.managed.kill("SIGTERM");
      const ms = performance.now() - t0;
      measured.collector = Math.round(ms);
      socket.destroy();
      expect(ms, c.managed.output()).toBeLessThan(STOP_LIMIT_MS);
      expect(code).toBe(0);
      expect(lockOwnerOf(join(dir.path, "collector-data")) !== undefined).toBe(false);
      const again = await startCollector(procs, dir.path, ["main"]);
      await again.managed.kill("SIGTERM");
    } finally {
      dir.cleanup();
    }
  });

  const pgMissing = privatePostgresMissing() ?? privateRedisMissing();
  it.skipIf(pgMissing !== undefined)(
    "SIGTERM with PostgreSQL and Redis paused (SIGSTOP), ingest, reads and the fleet stuck on them, one request hung mid-body: gone within 2 s, exit 0, each aborted and logged",
    { timeout: 120_000 },
    async () => {
      const dir = tempDir("clawguard-shutdown-collector-pg-");
      const server = await startPrivatePostgres();
      const redis = await startPrivateRedis();
      try {
        const c = await startCollector(procs, dir.path, ["main"], {
          DATABASE_URL: server.url,
          REDIS_URL: redis.url,
          CLAWGUARD_LOG_LEVEL: "info",
          // Sweeps often, so that one is stuck on the store too.
          CLAWGUARD_FLEET_SWEEP_MS: "200",
        });
        server.signalAll("SIGSTOP");
        process.kill(redis.pid(), "SIGSTOP");
        const source = { agent: "main", role: "agent", host: "test" };
        const auth = { authorization: `Bearer ${c.tokens.main}` };
        const stuck = [
          fetch(`${c.url}/v1/events`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: JSON.stringify({
              events: [sealEvent(draftEvent({ source, type: "test.event" }), EMPTY_HEAD)],
            }),
          }),
          fetch(`${c.url}/v1/audit?limit=5`, { headers: { authorization: `Bearer ${c.read}` } }),
          fetch(`${c.url}/v1/fleet`, { headers: { authorization: `Bearer ${c.read}` } }),
        ].map((p) =>
          p.then(
            (r) => r.status,
            (err: unknown) => (err as Error).name,
          ),
        );
        const socket = await hangMidBody(c.url, c.tokens.main as string);
        // Every request reached the collector and waits on the paused store.
        await new Promise((r) => setTimeout(r, 1_000));
        const t0 = performance.now();
        const code = await c.managed.kill("SIGTERM");
        const ms = performance.now() - t0;
        measured["collector, PostgreSQL and Redis paused"] = Math.round(ms);
        socket.destroy();
        const out = c.managed.output();
        expect(ms, out).toBeLessThan(STOP_LIMIT_MS);
        expect(code, out).toBe(0);
        expect(out).not.toContain("exiting anyway");
        expect(out).toMatch(/"msg":"stopped","ms":\d+/);
        expect(out).toMatch(/requests aborted: the collector is stopping","requests":[1-9]/);
        // The clients were answered or cut, none left waiting.
        const outcomes = await Promise.all(stuck);
        for (const o of outcomes) expect([503, "TypeError"]).toContain(o);
      } finally {
        server.signalAll("SIGCONT");
        process.kill(redis.pid(), "SIGCONT");
        await server.destroy();
        await redis.destroy();
        dir.cleanup();
      }
    },
  );
});

/** A POST /v1/events whose body never ends: its connection stays busy. */
async function hangMidBody(url: string, token: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, "connect");
  socket.write(
    `POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"events":[`,
  );
  return socket;
}

/** The sidecar's host pid under `unshare` (its only child), once it is up. */
async function childOf(parent: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const children = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim();
    if (children) return Number(children.split(" ")[0]);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no child of ${parent}`);
}

const canUnshare = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]).status === 0;

describe.skipIf(!canUnshare)("as pid 1 of its own PID namespace (as in a container)", () => {
  it("SIGTERM to pid 1 stops it within 2 s; after kill -9 its lock (pid 1 of another namespace) is taken once its lease ran out", async () => {
    const run = async (name: string) => {
      const { env, url } = await sidecarEnv();
      const wrapper = spawn(
        "unshare",
        ["--pid", "--fork", "--mount-proc", process.execPath, CLI, "sidecar"],
        {
          cwd: ws.path,
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let output = "";
      wrapper.stdout?.on("data", (d) => {
        output += d;
      });
      wrapper.stderr?.on("data", (d) => {
        output += d;
      });
      await sidecarPid(wrapper, url, () => `${name}: ${output}`);
      const owner = lockOwnerOf(join(state.path, "spool")) ?? { pid: 0 };
      expect(owner.pid).toBe(1);
      return { pid: await childOf(wrapper.pid as number), wrapper, output: () => output };
    };
    const first = await run("pid1-sigterm");
    process.kill(first.pid, "SIGTERM");
    const ms = await untilGone(first.pid, 5_000);
    measured["pid 1, SIGTERM"] = Math.round(ms);
    expect(ms, first.output()).toBeLessThan(STOP_LIMIT_MS);
    expect(lockOwnerOf(join(state.path, "spool")) !== undefined).toBe(false);

    const second = await run("pid1-kill9");
    process.kill(second.pid, "SIGKILL");
    await untilGone(second.pid, 5_000);
    expect((lockOwnerOf(join(state.path, "spool")) ?? { pid: 0 }).pid).toBe(1);
    // This process is not pid 1, and pid 1 here (init) runs: only the lease can tell.
    const waited = await replacementUp("after-pid1-kill9");
    measured["replacement after kill -9 of pid 1 in another namespace"] = Math.round(waited);
    expect(waited).toBeLessThan(LEASE_STALE_MS + 2 * LEASE_RENEW_MS + 5_000);
  }, 60_000);
});
