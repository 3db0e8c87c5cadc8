import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deleteKeys, redisAvailable, TEST_REDIS } from "@clawguard/collector/store/liveness/test-backends";
import { processAlive } from "@clawguard/shared/process";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listening, readActions, readRoute, StateWatch, staleAuthority, until } from "../support/drill.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import {
  chatTurn,
  createState,
  ensureOpenClaw,
  type Gateway,
  type GatewayState,
  gatewayReady,
  killTree,
  openclawLogTail,
  startGateway,
} from "../support/openclaw.ts";
import { freePort, type Managed, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * Failover with the real OpenClaw: a primary and a standby gateway configured on ONE state
 * directory (as a deployment shares one volume), a collector on PostgreSQL and Redis whose
 * controller starts and stops them with a command actuator (test/support/drill-actuator.ts), the
 * primary's sidecar probing it end to end (/readyz, and a chat turn through the agent to a fake
 * provider), and `clawguard router` in front.
 *   1. While the primary runs, a second OpenClaw on the same state refuses to start: OpenClaw's
 *      own single-instance lock, the reason failover must fence before it starts the standby.
 *   2. kill -9 of the primary: the sidecar's probes fail, the collector sees it unhealthy, the
 *      controller fences it (confirms it down), starts the standby on the same state, waits for
 *      it to be ready and repoints the router; a chat turn through the router is answered by the
 *      standby, from the session the primary had kept on the state; the old primary started again
 *      (its host back) is refused in turn. The phases are printed.
 * No restart in place (restartBudget 0): the stand-in drills cover that path.
 *
 * Opt-in (it installs openclaw the first time, and runs two ~1.3 GB gateways): `pnpm test:openclaw`.
 */

const enabled = process.env.CLAWGUARD_OPENCLAW === "1";
const backends = enabled && (await postgresAvailable()) && (await redisAvailable());

const ACTUATOR = fileURLToPath(new URL("../support/drill-actuator.ts", import.meta.url));
const LOG = "[openclaw-failover]";

/** Realistic but short: detection in a few seconds, a standby given time for OpenClaw's ~10-20 s start. */
const PROBE_MS = 1000;
const FAILURES_TO_FAIL = 2;
const HEARTBEAT_MS = 1000;
const TICK_MS = 250;
const UNHEALTHY_FOR_MS = 2000;
const DOWN_TIMEOUT_MS = 5000;
const READY_TIMEOUT_MS = 90_000;
const LEASE_TTL_MS = 5000;
/** A chat turn through OpenClaw on a busy 2-core box: its first one loads the agent runtime. */
const CHAT_PROBE_TIMEOUT_MS = 30_000;
/** OpenClaw's answer when a second gateway finds the state taken (2026.9.x): it exits 78, EX_CONFIG. */
const REFUSAL = "another OpenClaw process owns gateway-lifecycle";

const MODEL = { provider: "fake", id: "gpt-4.1" };

interface FleetAgent {
  agent: string;
  state: string;
  stale: boolean;
  reasons?: string[];
}

describe.skipIf(!enabled || !backends)("failover between two real OpenClaw gateways on one state", () => {
  const procs = new Processes();
  const prefix = `clawguard-test-${randomBytes(6).toString("hex")}:`;
  const readToken = randomBytes(16).toString("hex");
  const ingestToken = randomBytes(16).toString("hex");
  const watch = new StateWatch();
  let tmp: ReturnType<typeof tempDir> | undefined;
  let entry: string;
  let fake: FakeProvider | undefined;
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let state: GatewayState;
  /** Where the actuator keeps its pid-PORT files and its action log. */
  let run: string;
  let ports: { gw: number; standby: number; collector: number; router: number };
  let targets: { gw: string; "gw-standby": string };
  let primary: Gateway | undefined;
  /** Gateways started on the state while another held it, if any ever got ready (none must). */
  const doubles: Gateway[] = [];
  let collector: Managed;
  let sidecar: Managed;
  let router: Managed;
  let routerUrl: string;

  /** One more OpenClaw started on the state, on `port`: what it said as it exited (it must), and when. */
  const doubleStart = async (port: number): Promise<{ message: string; said: string; ms: number }> => {
    const t0 = Date.now();
    const message = await startGateway({ entry, state, port, readyTimeoutMs: 60_000 }).then(
      (started) => {
        doubles.push(started);
        return `a second gateway got ready on the state (pid ${started.pid}, port ${port})`;
      },
      (err: Error) => err.message,
    );
    const said = /Gateway failed to start: [^\n]*/.exec(message)?.[0] ?? message.split("\n")[0] ?? "";
    return { message, said, ms: Date.now() - t0 };
  };
  const actionsLog = () => join(run, "actions.jsonl");
  const gatewayLog = () => join(run, "gateways.log");
  const lockPayload = (): { pid?: number; port?: number } | undefined => {
    // OpenClaw's lock file: <state>/tmp/openclaw-<uid>/gateway.state.lock, JSON naming its holder.
    const file = join(state.state, "tmp", `openclaw-${process.getuid?.() ?? 0}`, "gateway.state.lock");
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
  };
  const fleet = async (): Promise<Record<string, FleetAgent>> => {
    const response = await fetch(`http://127.0.0.1:${ports.collector}/v1/fleet`, {
      headers: { authorization: `Bearer ${readToken}` },
      signal: AbortSignal.timeout(2000),
    });
    const view = (await response.json()) as { agents: FleetAgent[] };
    return Object.fromEntries(view.agents.map((agent) => [agent.agent, agent]));
  };
  const route = () => readRoute(TEST_REDIS, prefix, "gw");
  /** What the collector logged: the controller's decisions and its failover steps. */
  const controllerLog = () =>
    collector
      .output()
      .split("\n")
      .filter((line) => /"msg":"(controller|failover[^"]*|stopping the primary failed)"/.test(line))
      .join("\n");
  const why = () =>
    [
      `--- actions\n${JSON.stringify(readActions(actionsLog()))}`,
      `--- controller\n${controllerLog().slice(-3000)}`,
      `--- gateways started by the actuator\n${existsSync(gatewayLog()) ? readFileSync(gatewayLog(), "utf8").slice(-3000) : "(none)"}`,
      `--- openclaw log\n${openclawLogTail(state.logFile, 20)}`,
      `--- sidecar\n${sidecar?.output().slice(-2000)}`,
      `--- router\n${router?.output().slice(-1500)}`,
    ].join("\n");

  beforeAll(async () => {
    entry = await ensureOpenClaw();
  }, 600_000);

  beforeAll(async () => {
    tmp = tempDir("clawguard-openclaw-failover-");
    run = join(tmp.path, "run");
    mkdirSync(run);
    fake = await startFakeProvider();
    state = createState({
      dir: join(tmp.path, "openclaw"),
      providers: {
        [MODEL.provider]: {
          baseUrl: `${fake.url}/v1`,
          api: "openai-completions",
          apiKey: "test-key",
          models: [{ id: MODEL.id, contextWindow: 128_000, maxTokens: 4096 }],
        },
      },
    });
    ports = {
      gw: await freePort(),
      standby: await freePort(),
      collector: await freePort(),
      router: await freePort(),
    };
    targets = { gw: `http://127.0.0.1:${ports.gw}`, "gw-standby": `http://127.0.0.1:${ports.standby}` };
    writeFileSync(join(run, "openclaw.json"), JSON.stringify({ entry, state }));

    // The deployment starts the primary; from then on only the controller starts and stops gateways.
    primary = await startGateway({ entry, state, port: ports.gw, readyTimeoutMs: READY_TIMEOUT_MS });
    writeFileSync(join(run, `pid-${ports.gw}`), String(primary.pid)); // where the actuator's stop finds it
    console.log(`${LOG} primary OpenClaw ready in ${primary.startMs} ms (pid ${primary.pid})`);
    watch.start([ports.gw, ports.standby]);

    db = await createTestDatabase();
    writeFileSync(join(tmp.path, "tokens"), `gw ${ingestToken}\n`);
    const actuator = (action: string) => [
      process.execPath,
      ACTUATOR,
      "--log",
      actionsLog(),
      "--redis",
      TEST_REDIS,
      "--database",
      (db as { url: string }).url,
      "--prefix",
      prefix,
      "--state",
      run,
      "--gateway-log",
      gatewayLog(),
      "--openclaw",
      join(run, "openclaw.json"),
      action,
      "{agent}",
      "{port}",
      "{token}",
    ];
    const config = {
      host: "drill",
      controller: {
        groups: [{ name: "gw", primary: "gw", standby: "gw-standby", targets }],
        actuator: { kind: "command", start: actuator("start"), stop: actuator("stop"), timeoutMs: 15_000 },
        tickMs: TICK_MS,
        unhealthyForMs: UNHEALTHY_FOR_MS,
        restartBudget: 0,
        minFailoverIntervalMs: 600_000,
        downTimeoutMs: DOWN_TIMEOUT_MS,
        readyTimeoutMs: READY_TIMEOUT_MS,
        leaseTtlMs: LEASE_TTL_MS,
      },
    };
    writeFileSync(join(tmp.path, "collector.yaml"), JSON.stringify(config, null, 2)); // JSON is YAML
    collector = procs.cli(
      "collector",
      ["collector", "--config", join(tmp.path, "collector.yaml")],
      {
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS,
        CLAWGUARD_REDIS_KEY_PREFIX: prefix,
        CLAWGUARD_INGEST_TOKENS_FILE: join(tmp.path, "tokens"),
        CLAWGUARD_READ_TOKEN: readToken,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${ports.collector}`,
        CLAWGUARD_LOG_LEVEL: "info",
        CLAWGUARD_LOG_FORMAT: "json",
      },
      tmp.path,
    );
    await waitUntilUp(`http://127.0.0.1:${ports.collector}/readyz`, collector, 60_000);

    // The primary's sidecar. The standby's has nothing to probe before failover (a gateway that
    // must not run cannot answer): as in the injected compose file, it is not running then.
    const ws = join(tmp.path, "ws-gw");
    mkdirSync(join(ws, ".clawguard"), { recursive: true });
    const sidecarConfig = {
      agent: "gw",
      role: "gateway",
      heartbeat: { intervalMs: HEARTBEAT_MS },
      probe: {
        intervalMs: PROBE_MS,
        failuresToFail: FAILURES_TO_FAIL,
        successesToPass: 2,
        probes: [
          { name: "ready", kind: "http", url: `${targets.gw}/readyz`, expectBody: '"ready":true' },
          {
            name: "chat",
            kind: "chat",
            url: `${targets.gw}/v1/chat/completions`,
            token: { env: "GW_TOKEN" },
            timeoutMs: CHAT_PROBE_TIMEOUT_MS,
          },
        ],
      },
    };
    writeFileSync(join(ws, "clawguard.yaml"), JSON.stringify(sidecarConfig, null, 2));
    const sidecarPort = await freePort();
    sidecar = procs.cli(
      "sidecar-gw",
      ["sidecar", "--config", join(ws, "clawguard.yaml")],
      {
        CLAWGUARD_WORKSPACE: ws,
        CLAWGUARD_INGEST_TOKEN: ingestToken,
        CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${ports.collector}`,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sidecarPort}`,
        CLAWGUARD_LOG_LEVEL: "warn",
        GW_TOKEN: state.token,
      },
      ws,
    );
    await waitUntilUp(`http://127.0.0.1:${sidecarPort}/healthz`, sidecar);

    routerUrl = `http://127.0.0.1:${ports.router}`;
    router = procs.cli(
      "router",
      ["router", "--group", "gw", "--listen", `127.0.0.1:${ports.router}`],
      {
        REDIS_URL: TEST_REDIS,
        CLAWGUARD_REDIS_KEY_PREFIX: prefix,
        CLAWGUARD_LOG_LEVEL: "info",
        CLAWGUARD_LOG_FORMAT: "json",
      },
      tmp.path,
    );
    // 2xx once the leader has routed the group to the primary and the primary answers through it.
    await waitUntilUp(`${routerUrl}/readyz`, router, 60_000);
  }, 240_000);

  afterAll(async () => {
    await watch.stop();
    await procs.cleanup(); // the collector first: nothing is started any more
    await new Promise((r) => setTimeout(r, 300)); // an actuator it had running finishes its spawn
    const pids = new Set<number>();
    for (const r of run ? readActions(actionsLog()) : []) if (r.action === "start" && r.pid) pids.add(r.pid);
    for (const port of ports ? [ports.gw, ports.standby] : []) {
      const file = join(run, `pid-${port}`);
      if (existsSync(file)) pids.add(Number(readFileSync(file, "utf8")));
    }
    for (const pid of pids) if (processAlive(pid)) killTree(pid);
    for (const g of doubles) await g.stop();
    await primary?.stop();
    await fake?.close();
    await deleteKeys(prefix);
    await db?.drop();
    tmp?.cleanup();
  }, 60_000);

  it("a second OpenClaw on the same state refuses to start while the primary runs", {
    timeout: 120_000,
  }, async () => {
    const gw = primary as Gateway;
    expect(lockPayload()).toMatchObject({ pid: gw.pid, port: ports.gw });
    const refused = await doubleStart(ports.standby);
    expect(refused.message).toMatch(/^openclaw gateway exited \(78\) before it was ready/);
    expect(refused.message).toContain(REFUSAL);
    console.log(
      `${LOG} a second OpenClaw on the state while the primary runs: exit 78 after ${refused.ms} ms, "${refused.said}"`,
    );
    // It never listened, and the primary is unaffected: still ready, still the lock's holder.
    expect(await listening(ports.standby)).toBe(false);
    expect(await gatewayReady(gw.url)).toBe(true);
    expect(lockPayload()).toMatchObject({ pid: gw.pid, port: ports.gw });
  });

  it("kill -9 of the primary: detected, fenced, the standby starts on the same state, the router serves it", {
    timeout: 240_000,
  }, async () => {
    const gw = primary as Gateway;
    await until(
      "gw healthy in the fleet (its chat probe answered)",
      async () => (await fleet()).gw?.state === "healthy",
      90_000,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${why()}`);
    });
    expect(await route()).toBe(targets.gw);

    // A turn through the router, answered by the primary: its session is kept on the state.
    const user = `drill-${randomBytes(4).toString("hex")}`;
    const word = `marmot-${randomBytes(4).toString("hex")}`;
    const turn = (content: string) =>
      chatTurn(routerUrl, state.token, { model: `${MODEL.provider}/${MODEL.id}`, user, content });
    const before = await turn(`Remember the word ${word}.`);
    expect(before.status, JSON.stringify(before.body).slice(0, 500)).toBe(200);
    expect(before.text).toBeTruthy();
    expect(readActions(actionsLog())).toEqual([]);
    const stateLock = lockPayload();
    expect(stateLock).toMatchObject({ pid: gw.pid, port: ports.gw });

    // kill -9: no shutdown, no lock released by the gateway itself.
    const killedAt = Date.now();
    process.kill(gw.pid, "SIGKILL");
    const marks: { unhealthy?: number; ready?: number; routed?: number; served?: number } = {};
    let reasons: string[] = [];
    await until(
      "the router serving the standby",
      async () => {
        const agents = await fleet().catch(() => ({}) as Record<string, FleetAgent>);
        if (marks.unhealthy === undefined && agents.gw?.state === "unhealthy") {
          marks.unhealthy = Date.now();
          reasons = agents.gw.reasons ?? [];
        }
        const started = readActions(actionsLog()).some((r) => r.action === "start");
        if (marks.ready === undefined && started && (await gatewayReady(targets["gw-standby"])))
          marks.ready = Date.now();
        if (marks.routed === undefined && (await route()) === targets["gw-standby"])
          marks.routed = Date.now();
        if (marks.served === undefined && marks.ready !== undefined && (await gatewayReady(routerUrl)))
          marks.served = Date.now();
        return marks.served !== undefined;
      },
      150_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message} (marks ${JSON.stringify(marks)})\n${why()}`);
    });

    // The sidecar said why, from its end-to-end probes.
    // (Which probe says it first depends on where each was in its interval at the kill.)
    expect(reasons.join("\n")).toMatch(
      /^(ready: connection refused|chat: .*(ECONNRESET|connection refused))/m,
    );

    // What the controller did: fence the primary, then start the standby, under one token.
    const actions = readActions(actionsLog());
    expect(
      actions.map((r) => [r.action, r.agent, r.port]),
      why(),
    ).toEqual([
      ["stop", "gw", ports.gw],
      ["start", "gw-standby", ports.standby],
    ]);
    const [stop, start] = actions as [(typeof actions)[0], (typeof actions)[0]];
    expect(stop.pid).toBe(gw.pid); // the pid it fenced is the primary's
    expect(actions.flatMap((r) => staleAuthority(r) ?? [])).toEqual([]);
    expect(start.token).toBe(stop.token);
    expect(stop.by).toBe(collector.pid);
    expect(processAlive(gw.pid)).toBe(false);
    expect(await listening(ports.gw)).toBe(false);

    // The standby runs on the state and holds OpenClaw's own lock on it; it was never refused.
    const standby = start.pid as number;
    expect(processAlive(standby)).toBe(true);
    expect(lockPayload()).toMatchObject({ pid: standby, port: ports.standby });
    expect(readFileSync(gatewayLog(), "utf8")).not.toContain(REFUSAL);
    expect(controllerLog()).toMatch(/"msg":"failover done"/);

    // A real turn through the router, answered by the standby from the session the primary kept.
    const from = fake?.requests.length ?? 0;
    const after = await turn("Which word did I ask you to remember?");
    expect(after.status, JSON.stringify(after.body).slice(0, 500)).toBe(200);
    expect(after.text).toBeTruthy();
    const asked = (fake?.requests ?? []).slice(from).filter((r) => r.api === "chat");
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.some((r) => JSON.stringify(r.json).includes(word))).toBe(true);
    expect(await route()).toBe(targets["gw-standby"]);
    expect(router.output()).toContain(`"to":"${targets["gw-standby"]}"`);

    // The fenced primary's host comes back and starts OpenClaw again: the standby's lock refuses it.
    const comeback = await doubleStart(ports.gw);
    expect(comeback.message).toMatch(/^openclaw gateway exited \(78\) before it was ready/);
    expect(comeback.message).toContain(REFUSAL);
    expect(await gatewayReady(targets["gw-standby"])).toBe(true);
    expect(lockPayload()).toMatchObject({ pid: standby, port: ports.standby });
    // One state, one gateway, all along (both ports watched every 25 ms).
    expect(watch.rounds).toBeGreaterThan(100);
    expect(watch.overlaps).toEqual([]);

    const agents = await fleet();
    const phases = {
      detection: stop.at - killedAt,
      fencing: start.at - stop.at,
      standbyStart: (marks.ready as number) - start.at,
      switch: (marks.served as number) - (marks.ready as number),
    };
    const total = (marks.served as number) - killedAt;
    console.log(
      [
        `${LOG} kill -9 of the primary -> the router serving the standby: ${total} ms`,
        `  detection     ${phases.detection} ms (unhealthy in the collector after ${(marks.unhealthy ?? Number.NaN) - killedAt} ms: probes every ${PROBE_MS} ms, ${FAILURES_TO_FAIL} failures in a row, then a heartbeat; then the controller waits unhealthyForMs ${UNHEALTHY_FOR_MS})`,
        `    the sidecar's reasons: ${reasons.join("; ")}`,
        `  fencing       ${phases.fencing} ms (kill -9 of what was left, confirmed down: port refused)`,
        `  standby start ${phases.standbyStart} ms (OpenClaw on the same state to /readyz; the primary took ${gw.startMs} ms)`,
        `  switch        ${phases.switch} ms (route written ${(marks.routed ?? Number.NaN) - (marks.ready as number)} ms after ready; router forwarding to it)`,
        `  turn through the router after failover: ${after.status} in ${after.ms} ms, session history kept (${word})`,
        `  the old primary started again on the state: exit 78 after ${comeback.ms} ms (the standby holds it)`,
        `  the fleet now: gw ${agents.gw?.state}, gw-standby ${agents["gw-standby"]?.state ?? "not heard from (no sidecar of its own here)"}`,
      ].join("\n"),
    );
    // Detection is bounded by the settings (with slack for a loaded box), fencing by downTimeoutMs.
    expect(phases.detection).toBeLessThan(
      FAILURES_TO_FAIL * PROBE_MS + HEARTBEAT_MS + UNHEALTHY_FOR_MS + 4 * TICK_MS + 5000,
    );
    expect(phases.fencing).toBeLessThan(DOWN_TIMEOUT_MS + 5000);
    expect(phases.standbyStart).toBeLessThan(READY_TIMEOUT_MS);
    expect(phases.switch).toBeLessThan(5000);
  });
});
