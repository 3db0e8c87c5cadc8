import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deleteKeys, redisAvailable, TEST_REDIS } from "@clawguard/collector/store/liveness/test-backends";
import { processAlive } from "@clawguard/shared/process";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  leaseKeys,
  listening,
  readActions,
  readRoute,
  redisCall,
  StateWatch,
  staleAuthority,
  until,
} from "../support/drill.ts";
import { freePort, type Managed, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * Failover drills with two collector replicas as real processes on one PostgreSQL and one Redis,
 * a primary and a standby stand-in gateway on ONE state directory (each takes its single-instance
 * lock: a double start shows as a refusal), sidecars whose heartbeats feed liveness, and a command
 * actuator that logs every action with who ran it, under which token, and the lease at that moment.
 *   1. Most of the fleet goes stale at once: the leader holds, and does nothing when the fleet
 *      comes back either (the last agent back is not failed over).
 *   2. The leader restarts a killed primary in place (the budget is spent), is SIGSTOPped, the
 *      other replica takes the lease; the primary is killed again: the new leader fails over (it
 *      does not restart it again: the budget is shared), and while the slow standby starts (longer
 *      than the lease TTL) the old leader is resumed: it must carry out nothing.
 */

const STAND_IN = fileURLToPath(
  new URL("../../collector/src/controller/stand-in-gateway.ts", import.meta.url),
);
const ACTUATOR = fileURLToPath(new URL("../support/drill-actuator.ts", import.meta.url));

const LEASE_TTL_MS = 2000;
const TICK_MS = 200;
const UNHEALTHY_FOR_MS = 2500;
const HEARTBEAT_MS = 1000;
const STALE_FACTOR = 2;
/** The standby gets ready later than the lease runs out, as OpenClaw's ~13 s start outlasts a 5 s lease. */
const SLOW_STANDBY_MS = LEASE_TTL_MS + 500;

const pgUp = await postgresAvailable();
const redisUp = await redisAvailable();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

interface FleetAgent {
  agent: string;
  state: string;
  stale: boolean;
}

describe.skipIf(!pgUp || !redisUp)("failover with two collector replicas (real processes)", () => {
  const procs = new Processes();
  const dir = tempDir("clawguard-replicas-");
  const prefix = `clawguard-test-${randomBytes(6).toString("hex")}:`;
  const keys = leaseKeys(prefix);
  const state = join(dir.path, "state");
  const actionsLog = join(dir.path, "actions.jsonl");
  const gatewayLog = join(dir.path, "gateways.log");
  const tokensFile = join(dir.path, "tokens");
  const readToken = randomBytes(16).toString("hex");
  const tokens = Object.fromEntries(
    ["gw", "gw-standby", "sub-a"].map((agent) => [agent, randomBytes(16).toString("hex")]),
  );
  const startedGateways = new Set<number>();
  const watch = new StateWatch();
  const sidecars: Record<string, Managed> = {};
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let ports: { a: number; b: number; gw: number; standby: number };
  let targets: Record<string, string>;
  let a: Managed;
  let b: Managed;

  const pidFile = (port: number) => {
    try {
      return Number(readFileSync(join(state, `pid-${port}`), "utf8"));
    } catch {
      return undefined;
    }
  };
  const holder = async () => (await redisCall(TEST_REDIS, [["GET", keys.lease]]))[0] as string | null;
  const holderPid = async () => {
    const lease = await holder();
    return lease === null ? undefined : Number(lease.slice(lease.indexOf(":") + 1, lease.indexOf("|")));
  };
  const route = () => readRoute(TEST_REDIS, prefix, "gw");
  const fleet = async (): Promise<Record<string, FleetAgent>> => {
    const response = await fetch(`http://127.0.0.1:${ports.b}/v1/fleet`, {
      headers: { authorization: `Bearer ${readToken}` },
    });
    const view = (await response.json()) as { agents: FleetAgent[] };
    return Object.fromEntries(view.agents.map((agent) => [agent.agent, agent]));
  };
  /** The controller's decisions a replica logged (info: one line per change of decision). */
  const decisions = (replica: Managed) =>
    replica
      .output()
      .split("\n")
      .filter((line) => line.includes('"msg":"controller"'))
      .map((line) => JSON.parse(line) as { time: string; decision: string; why: string });

  function startReplica(name: string, port: number): Managed {
    const node = process.execPath;
    const actuator = (action: string) => [
      node,
      ACTUATOR,
      "--log",
      actionsLog,
      "--redis",
      TEST_REDIS,
      "--database",
      db?.url as string,
      "--prefix",
      prefix,
      "--state",
      state,
      "--gateway-log",
      gatewayLog,
      "--slow",
      `${ports.standby}:${SLOW_STANDBY_MS}`,
      action,
      "{agent}",
      "{port}",
      "{token}",
    ];
    const config = {
      host: name,
      fleet: { staleFactor: STALE_FACTOR, sweepMs: 200 },
      controller: {
        groups: [{ name: "gw", primary: "gw", standby: "gw-standby", targets }],
        actuator: { kind: "command", start: actuator("start"), stop: actuator("stop"), timeoutMs: 10_000 },
        tickMs: TICK_MS,
        unhealthyForMs: UNHEALTHY_FOR_MS,
        restartBudget: 1,
        restartWindowMs: 600_000,
        restartBackoffMs: 0,
        minFailoverIntervalMs: 600_000,
        holdStaleShare: 0.5,
        downTimeoutMs: 3000,
        readyTimeoutMs: 10_000,
        leaseTtlMs: LEASE_TTL_MS,
      },
    };
    const file = join(dir.path, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return procs.cli(
      name,
      ["collector", "--config", file],
      {
        DATABASE_URL: db?.url as string,
        REDIS_URL: TEST_REDIS,
        CLAWGUARD_REDIS_KEY_PREFIX: prefix,
        CLAWGUARD_INGEST_TOKENS_FILE: tokensFile,
        CLAWGUARD_READ_TOKEN: readToken,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
        CLAWGUARD_LOG_LEVEL: "info",
        CLAWGUARD_LOG_FORMAT: "json",
      },
      dir.path,
    );
  }

  // Every sidecar reports to B: A is the one paused in the drill.
  const startSidecar = (agent: string, role: string, probeUrl?: string) =>
    procs.drillSidecar({
      dir: dir.path,
      agent,
      role,
      token: tokens[agent] as string,
      collectorUrl: `http://127.0.0.1:${ports.b}`,
      heartbeatMs: HEARTBEAT_MS,
      probeUrl,
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    mkdirSync(state);
    writeFileSync(
      tokensFile,
      Object.entries(tokens)
        .map(([agent, token]) => `${agent} ${token}\n`)
        .join(""),
    );
    ports = { a: await freePort(), b: await freePort(), gw: await freePort(), standby: await freePort() };
    targets = { gw: `http://127.0.0.1:${ports.gw}`, "gw-standby": `http://127.0.0.1:${ports.standby}` };

    // The deployment starts the primary; from then on only the controller starts and stops gateways.
    const out = openSync(gatewayLog, "a");
    const primary = spawn(process.execPath, [STAND_IN, "--port", String(ports.gw), "--state", state], {
      stdio: ["ignore", out, out],
    });
    closeSync(out);
    startedGateways.add(primary.pid as number);
    await until("the primary up", () => listening(ports.gw));
    watch.start([ports.gw, ports.standby]);

    a = startReplica("replica-a", ports.a);
    await waitUntilUp(`http://127.0.0.1:${ports.a}/readyz`, a, 60_000);
    await until("replica A holding the lease", async () => (await holderPid()) === a.pid);
    b = startReplica("replica-b", ports.b);
    await waitUntilUp(`http://127.0.0.1:${ports.b}/readyz`, b, 60_000);
    const started = await Promise.all([
      startSidecar("gw", "gateway", `${targets.gw}/readyz`),
      startSidecar("gw-standby", "gateway"),
      startSidecar("sub-a", "agent"),
    ]);
    for (const s of started) sidecars[s.name.replace("sidecar-", "")] = s;
  }, 90_000);

  afterAll(async () => {
    await watch.stop();
    for (const p of [a, b, ...Object.values(sidecars)]) if (p) signal(p.pid, "SIGCONT");
    await procs.cleanup();
    const pids = new Set(startedGateways);
    for (const r of readActions(actionsLog)) if (r.action === "start" && r.pid) pids.add(r.pid);
    for (const port of ports ? [ports.gw, ports.standby] : []) {
      const pid = pidFile(port);
      if (pid) pids.add(pid);
    }
    for (const pid of pids) signal(pid, "SIGKILL");
    await deleteKeys(prefix);
    await db?.drop();
    dir.cleanup();
  });

  it("holds while most of the fleet is stale, and still does nothing as it comes back", {
    timeout: 30_000,
  }, async () => {
    await until("every agent heard from, gw healthy", async () => {
      const agents = await fleet();
      return agents.gw?.state === "healthy" && agents["gw-standby"] && agents["sub-a"];
    });
    expect(await holderPid()).toBe(a.pid);
    expect(await route()).toBe(targets.gw);
    const primary = pidFile(ports.gw) as number;

    // The collectors lose two of the three sidecars at once (gw's among them).
    signal(sidecars.gw?.pid as number, "SIGSTOP");
    signal(sidecars["sub-a"]?.pid as number, "SIGSTOP");
    await until("gw and sub-a stale", async () => {
      const agents = await fleet();
      return agents.gw?.stale && agents["sub-a"]?.stale;
    });
    await sleep(UNHEALTHY_FOR_MS + 4 * TICK_MS);
    expect(readActions(actionsLog)).toEqual([]);
    expect(decisions(a).at(-1)).toMatchObject({
      decision: "hold",
      why: expect.stringMatching(/67 % of the fleet/),
    });

    // It heals in any order: sub-a first, gw one heartbeat interval later. Nothing may be done
    // to gw meanwhile: it was stale only while most of the fleet was.
    signal(sidecars["sub-a"]?.pid as number, "SIGCONT");
    await until("sub-a back", async () => (await fleet())["sub-a"]?.stale === false);
    await sleep(HEARTBEAT_MS);
    signal(sidecars.gw?.pid as number, "SIGCONT");
    await until("gw back and healthy", async () => {
      const gw = (await fleet()).gw;
      return gw?.stale === false && gw.state === "healthy";
    });
    await sleep(4 * TICK_MS);
    expect(readActions(actionsLog)).toEqual([]);
    expect(pidFile(ports.gw)).toBe(primary);
    expect(processAlive(primary)).toBe(true);
    expect(await route()).toBe(targets.gw);
  });

  it("a SIGSTOPped leader loses the lease, and once resumed carries out nothing; one gateway per state", {
    timeout: 60_000,
  }, async () => {
    const starts = (port: number) =>
      readActions(actionsLog).filter((r) => r.action === "start" && r.port === port);

    // 1. A restarts the killed primary in place: the restart budget (1) is spent.
    const first = pidFile(ports.gw) as number;
    signal(first, "SIGKILL");
    await until("A restarting the primary", () => starts(ports.gw).length > 0);
    await until("the restarted primary healthy (or a failover)", async () => {
      if (starts(ports.standby).length > 0) return true;
      return (await fleet()).gw?.state === "healthy" && (await listening(ports.gw));
    });
    await sleep(UNHEALTHY_FOR_MS);
    expect(starts(ports.standby)).toEqual([]); // a restarted primary is given time to come back
    expect(readActions(actionsLog).map((r) => [r.action, r.port, r.by])).toEqual([
      ["stop", ports.gw, a.pid],
      ["start", ports.gw, a.pid],
    ]);

    // 2. SIGSTOP the leader: B takes the lease once it runs out.
    signal(a.pid, "SIGSTOP");
    const stoppedAt = Date.now();
    await until("B holding the lease", async () => (await holderPid()) === b.pid, 10_000);
    const handoverMs = Date.now() - stoppedAt;
    console.log(`[failover-replicas] handover after SIGSTOP of the leader: ${handoverMs} ms`);
    expect(handoverMs).toBeLessThanOrEqual(LEASE_TTL_MS + 1000);

    // 3. The primary dies again while A is stopped: B fences it and starts the (slow) standby.
    signal(pidFile(ports.gw) as number, "SIGKILL");
    await until(
      "B starting the standby",
      () => starts(ports.standby).length > 0 || starts(ports.gw).length > 1,
    );
    expect(starts(ports.gw)).toHaveLength(1); // no second restart in place: A spent the group's budget

    // 4. A wakes up while B waits for the standby (longer than the lease TTL).
    signal(a.pid, "SIGCONT");
    const resumedAt = Date.now();
    await until("the standby serving, routed", async () => {
      const ready = await fetch(`${targets["gw-standby"]}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      return ready && (await route()) === targets["gw-standby"];
    });
    await sleep(LEASE_TTL_MS + 1000); // time for A to act, if it were going to

    const actions = readActions(actionsLog);
    const summary = actions.map((r) => [
      r.action,
      r.port,
      r.by === a.pid ? "A" : r.by === b.pid ? "B" : r.by,
    ]);
    expect(summary).toEqual([
      ["stop", ports.gw, "A"],
      ["start", ports.gw, "A"],
      ["stop", ports.gw, "B"], // no second restart in place: A spent the budget
      ["start", ports.standby, "B"],
    ]);
    expect(actions.filter((r) => r.by === a.pid && r.at >= stoppedAt)).toEqual([]);
    expect(actions.flatMap((r) => staleAuthority(r) ?? [])).toEqual([]);
    const fencing = actions.map((r) => r.token);
    expect(fencing).toEqual([...fencing].sort((x, y) => x - y));
    expect(fencing.every(Number.isInteger)).toBe(true);

    // One state, one gateway: never two listening, no start refused by the state lock.
    expect(watch.rounds).toBeGreaterThan(100);
    expect(watch.overlaps).toEqual([]);
    expect(readFileSync(gatewayLog, "utf8")).not.toMatch(/is locked by/);
    const standby = pidFile(ports.standby) as number;
    expect(Number(readFileSync(join(state, "LOCK"), "utf8"))).toBe(standby);
    expect(await listening(ports.gw)).toBe(false);

    // A is alive and a follower; B leads.
    expect(await holderPid()).toBe(b.pid);
    expect((await fetch(`http://127.0.0.1:${ports.a}/readyz`)).ok).toBe(true);
    expect(Date.now() - resumedAt).toBeGreaterThan(LEASE_TTL_MS);
  });
});
