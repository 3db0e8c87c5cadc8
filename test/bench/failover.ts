import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deleteKeys, redisAvailable, TEST_REDIS } from "@clawguard/collector/store/liveness/test-backends";
import { processAlive } from "@clawguard/shared/process";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { leaseKeys, redisCall } from "../support/drill.ts";
import { freePort, Processes } from "../support/processes.ts";
import {
  actuate,
  answersReady,
  collectorConfig,
  firstAt,
  type Gateway,
  killStarted,
  type LogLine,
  type Rig,
  readMarks,
  type Settings,
  STAND_IN,
  type Stores,
  sidecarLog,
  sleep,
  startCollector,
  startRig,
  whoAnswers,
} from "./failover-rig.ts";
import { type Figure, percentile, progress } from "./report.ts";

/**
 * Failover drills with real processes: a collector (PostgreSQL, Redis) whose controller fails a
 * gateway group over, the router in front, two stand-in gateways on one state directory, each with
 * its sidecar probing it and heartbeating. Each drill kill -9s the primary and times, from the
 * processes' own logs and the actuator's marks: detection (kill to the controller's decision),
 * fencing (to the primary confirmed down, when the standby's start command runs), the standby's
 * start (to its /readyz), and the switch (to the router answering from it). The gateways swap
 * roles from drill to drill; the collector and router stay. Anchor: the stand-in started by
 * itself, timed to /readyz, in the same run, the part the target leaves out. Then the lease: two
 * collector replicas, the leader SIGSTOPped, timed until the other holds the lease, against its TTL.
 */

const SETTINGS: Settings = {
  probeIntervalMs: 250,
  failuresToFail: 2,
  heartbeatMs: 1000, // the sidecar's minimum
  sweepMs: 250,
  tickMs: 250,
  unhealthyForMs: 500,
  minFailoverIntervalMs: 8000,
  leaseTtlMs: 2000,
};
const TARGET_MS = 3000;

interface Phases {
  /** kill -> the sidecar reports unhealthy (its log). */
  probe: number;
  /** kill -> the controller decides to fail over. */
  detect: number;
  /** decision -> the primary confirmed down (the standby's start command runs). */
  fence: number;
  /** start command -> the standby answers /readyz. */
  start: number;
  /** standby ready -> the router answers from it. */
  switch: number;
  /** kill -> the router answers from the standby. */
  total: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function after<T extends { at: number }>(what: string, items: T[], since: number, ok: (x: T) => boolean): T {
  const found = items.find((x) => x.at >= since && ok(x));
  if (!found) throw new Error(`not found since the kill: ${what}`);
  return found;
}

/** Waits until the fleet is at rest: the primary healthy, the standby down and not judged unhealthy. */
async function settle(rig: Rig, primary: Gateway, standby: Gateway, lastDecision: number): Promise<void> {
  type FleetAgent = { agent: string; state: string; stale: boolean };
  let seen: FleetAgent[] = [];
  await firstAt(
    `${primary.agent} healthy, ${standby.agent} stale or unheard of, the router on ${primary.agent}`,
    async () => {
      const response = await fetch(`${rig.collectorUrl}/v1/fleet`, {
        headers: { authorization: `Bearer ${rig.read}` },
      });
      seen = ((await response.json()) as { agents: FleetAgent[] }).agents;
      const p = seen.find((a) => a.agent === primary.agent);
      const q = seen.find((a) => a.agent === standby.agent);
      return (
        p?.state === "healthy" &&
        !p.stale &&
        (!q || q.stale) &&
        (await whoAnswers(rig.routerUrl)) === primary.port
      );
    },
    100,
    Date.now() + 60_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; fleet: ${JSON.stringify(seen)}`);
  });
  // Flap protection, then two ticks so the controller has seen the fleet as it is; then a random
  // phase against the sidecar's heartbeats and probes (they started with the gateway, at the last
  // failover: without it every kill would fall at the same point of their cycles).
  await sleep(
    Math.max(0, lastDecision + SETTINGS.minFailoverIntervalMs - Date.now()) +
      2 * SETTINGS.tickMs +
      Math.random() * SETTINGS.heartbeatMs,
  );
}

/** kill -9 of the primary, until the router answers from the standby; the phases from the logs. */
async function drill(rig: Rig, from: Gateway, to: Gateway): Promise<Phases & { decision: number }> {
  const pid = Number(readFileSync(join(rig.state, `pid-${from.port}`), "utf8"));
  const deadline = Date.now() + 60_000;
  const ready = firstAt(`${to.agent} /readyz`, () => answersReady(to.url), 10, deadline);
  const answered = firstAt(
    `the router answering from ${to.agent}`,
    async () => (await whoAnswers(rig.routerUrl)) === to.port,
    20,
    deadline,
  );
  const kill = Date.now();
  process.kill(pid, "SIGKILL");
  const [readyAt, answerAt] = await Promise.all([ready, answered]);
  // The log lines and marks of what led there (the router answering means they are written).
  await firstAt(
    "failover done in the collector's log",
    () => rig.collectorLog.some((l) => l.at >= kill && l.msg === "failover done"),
    20,
    Date.now() + 5000,
  );
  const expected = new Set(["failover: fencing the primary", "failover done"]);
  const problem = rig.collectorLog.find((l) => l.at >= kill && l.level !== "info" && !expected.has(l.msg));
  if (problem) throw new Error(`the controller said: ${JSON.stringify(problem)}`);
  const decision = after(
    "the failover decision",
    rig.collectorLog,
    kill,
    (l) => l.msg === "controller" && l.decision === "failover",
  ).at;
  const unhealthy = after(
    `${from.agent}'s sidecar reporting unhealthy`,
    sidecarLog(rig, from.agent),
    kill,
    (l: LogLine) => l.msg === "health changed" && l.to === "unhealthy",
  ).at;
  const started = after(`the start of ${to.agent}`, readMarks(rig.dir), kill, (m) => {
    return m.step === "start-begin" && m.agent === to.agent;
  }).at;
  // One state, one gateway: the old primary is gone and the lock is the standby's.
  const standbyPid = Number(readFileSync(join(rig.state, `pid-${to.port}`), "utf8"));
  const lock = Number(readFileSync(join(rig.state, "LOCK"), "utf8"));
  if (processAlive(pid) || lock !== standbyPid)
    throw new Error(`after the failover: old primary ${pid} alive ${processAlive(pid)}, LOCK ${lock}`);
  return {
    decision,
    probe: unhealthy - kill,
    detect: decision - kill,
    fence: started - decision,
    start: readyAt - started,
    switch: answerAt - readyAt,
    total: answerAt - kill,
  };
}

/** The stand-in gateway started by itself: spawn to /readyz (ms). */
async function standAlone(port: number, state: string): Promise<number> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [STAND_IN, "--port", String(port), "--state", state], {
    stdio: "ignore",
  });
  const exited = once(child, "exit");
  try {
    return (
      (await firstAt(
        "the stand-in alone /readyz",
        () => answersReady(`http://127.0.0.1:${port}`),
        10,
        t0 + 30_000,
      )) - t0
    );
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

/** Two replicas; each round SIGSTOPs the lease holder and times until the other holds the lease. */
async function handover(procs: Processes, dir: string, stores: Stores, read: string, rounds: number) {
  const ports = [await freePort(), await freePort()];
  const dummy = (agent: string, port: number) => ({ agent, port, url: `http://127.0.0.1:${port}` });
  // A group no sidecar reports on: the controllers run (and hold or wait for the lease), never act.
  const group = { name: "lease", primary: dummy("nobody-a", 9), standby: dummy("nobody-b", 9) };
  const replicas: { name: string; pid: number }[] = [];
  const holder = async () =>
    String((await redisCall(stores.redisUrl, [["GET", leaseKeys(stores.prefix).lease]]))[0] ?? "");
  for (const [i, port] of ports.entries()) {
    const host = `bench-replica-${i + 1}`;
    const config = collectorConfig(host, port as number, stores.prefix, SETTINGS, group, {
      start: ["true"],
      stop: ["true"],
    });
    const { managed } = await startCollector(procs, dir, host, port as number, stores, read, config);
    replicas.push({ name: `${host}:${managed.pid}`, pid: managed.pid });
    if (i === 0)
      await firstAt(
        "the first replica to lead",
        async () => (await holder()).startsWith(`${host}:`),
        20,
        Date.now() + 10_000,
      );
  }
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [name, token] = (await holder()).split("|");
    const leader = replicas.find((r) => r.name === name);
    const other = replicas.find((r) => r.name !== name);
    if (!leader || !other) throw new Error(`lease held by ${name}, not a replica of this bench`);
    // A random phase against the leader's renewals.
    await sleep(Math.random() * SETTINGS.tickMs);
    const t0 = Date.now();
    process.kill(leader.pid, "SIGSTOP");
    try {
      const t1 = await firstAt(
        `${other.name} to hold the lease`,
        async () => (await holder()).startsWith(`${other.name}|`),
        10,
        t0 + SETTINGS.leaseTtlMs * 3 + 5000,
      );
      times.push(t1 - t0);
      progress(
        `failover: lease round ${round + 1}/${rounds}: ${leader.name} stopped, ${other.name} leads after ${s(t1 - t0)}`,
      );
    } finally {
      process.kill(leader.pid, "SIGCONT");
    }
    const [now, newToken] = (await holder()).split("|");
    if (Number(newToken) <= Number(token)) throw new Error(`fencing token ${newToken} after ${token}`);
    // The resumed former leader must find the lease taken and stay a follower.
    await sleep(4 * SETTINGS.tickMs);
    if ((await holder()).split("|")[0] !== now) throw new Error(`the lease went back to ${leader.name}`);
  }
  return times;
}

export async function benchFailover(options: { drills: number }): Promise<Figure[]> {
  if (!(await postgresAvailable())) throw new Error("PostgreSQL is needed for the failover benchmark");
  if (!(await redisAvailable())) throw new Error("Redis is needed for the failover benchmark");
  const procs = new Processes();
  const dir = tempDir("clawguard-bench-failover-");
  const db = await createTestDatabase();
  const prefix = `clawguard-bench-${randomBytes(4).toString("hex")}:`;
  const stores: Stores = { databaseUrl: db.url, redisUrl: TEST_REDIS, prefix };
  // Once, from the end of the run or from an interruption (then exit): every process by its PID,
  // the Redis keys, the database, the files.
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      process.off("SIGINT", interrupted).off("SIGTERM", interrupted);
      await procs.cleanup();
      killStarted(dir.path);
      await deleteKeys(prefix).catch(() => {});
      await db.drop().catch(() => {});
      dir.cleanup();
    })());
  const interrupted = (signal: NodeJS.Signals) =>
    void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
  try {
    progress(`failover: settings ${JSON.stringify({ ...SETTINGS, restartBudget: 0 })}`);
    progress(
      "failover: starting the collector (PostgreSQL, Redis, controller), router, gw-a and its sidecar",
    );
    const rig = await startRig(procs, dir.path, stores, SETTINGS);
    let [primary, standby] = rig.gateways;
    await actuate(rig, "start", primary);
    const anchorState = join(dir.path, "anchor-state");
    mkdirSync(anchorState);
    const anchorPort = await freePort();
    const phases: Phases[] = [];
    const anchor: number[] = [];
    let lastDecision = 0;
    for (let i = 0; i < options.drills; i++) {
      await settle(rig, primary, standby, lastDecision);
      anchor.push(await standAlone(anchorPort, anchorState));
      const p = await drill(rig, primary, standby);
      lastDecision = p.decision;
      phases.push(p);
      progress(
        `failover: drill ${i + 1}/${options.drills} ${primary.agent} -> ${standby.agent}: total ${s(p.total)} ` +
          `(detect ${s(p.detect)}, fence ${s(p.fence)}, start ${s(p.start)}, switch ${s(p.switch)}); alone ${s(anchor.at(-1) as number)}`,
      );
      [primary, standby] = [standby, primary];
    }
    // What the drills did not stop on but should be read: the router's warnings, Node's own.
    for (const [name, managed, lines] of [
      ["router", rig.router, rig.routerLog],
      ["collector", rig.collector, rig.collectorLog],
    ] as const) {
      const said = lines.find(
        (l) => l.level !== "info" && l.msg !== "failover: fencing the primary" && l.msg !== "failover done",
      );
      const warning = /\(node:\d+\) \w*Warning.*/.exec(managed.output())?.[0];
      if (said || warning) progress(`failover: the ${name} said ${warning ?? JSON.stringify(said)}`);
    }
    await procs.cleanup();
    killStarted(dir.path);

    const rounds = Math.min(options.drills, 6);
    progress(`failover: lease handover, two collector replicas, ${rounds} rounds`);
    const lease = await handover(procs, dir.path, { ...stores, prefix: `${prefix}lease:` }, rig.read, rounds);

    const series = (f: (p: Phases) => number) => phases.map(f).sort((a, b) => a - b);
    const [net, total, start] = [
      series((p) => p.total - p.start),
      series((p) => p.total),
      series((p) => p.start),
    ];
    const alone = [...anchor].sort((a, b) => a - b);
    const handed = [...lease].sort((a, b) => a - b);
    const pp = (xs: number[]) => `${s(percentile(xs, 50))} / ${s(percentile(xs, 99))}`;
    const aloneText = `${pp(alone)} standby alone`;
    const row = (name: string, xs: number[], extra: Partial<Figure> = {}): Figure => ({
      name,
      value: pp(xs),
      anchor: "-",
      ratio: "-",
      target: "-",
      ...extra,
    });
    const { unhealthyForMs, probeIntervalMs, failuresToFail, heartbeatMs, tickMs, leaseTtlMs } = SETTINGS;
    return [
      row(`failover minus the standby's own start, p50 / p99 (${options.drills} drills)`, net, {
        anchor: aloneText,
        ratio: (percentile(net, 99) / percentile(alone, 99)).toFixed(1),
        target: `p99 <= ${s(TARGET_MS)}`,
        pass: percentile(net, 99) <= TARGET_MS,
      }),
      row("failover total: kill -9 -> the router answers from the standby", total, { anchor: aloneText }),
      row(
        `  detection: kill -> failover decision (restartBudget 0, unhealthyFor ${unhealthyForMs} ms)`,
        series((p) => p.detect),
      ),
      row(
        `    of it the probes: kill -> sidecar unhealthy (every ${probeIntervalMs} ms, ${failuresToFail} to fail)`,
        series((p) => p.probe),
      ),
      row(
        `    of it heartbeat + controller (heartbeat ${heartbeatMs} ms, tick ${tickMs} ms)`,
        series((p) => p.detect - p.probe),
      ),
      row(
        "  fencing: decision -> primary confirmed down (standby start command runs)",
        series((p) => p.fence),
      ),
      row("  standby start: start command -> its /readyz (not in the target)", start, {
        anchor: aloneText,
        ratio: (percentile(start, 50) / percentile(alone, 50)).toFixed(2),
      }),
      row(
        "  switch: standby ready -> the router answers from it",
        series((p) => p.switch),
      ),
      {
        name: `lease handover: leader SIGSTOPped -> the other replica leads, p50 / max (${lease.length} rounds, tick ${tickMs} ms)`,
        value: `${s(percentile(handed, 50))} / ${s(handed.at(-1) as number)}`,
        anchor: `${s(leaseTtlMs)} lease TTL`,
        ratio: ((handed.at(-1) as number) / leaseTtlMs).toFixed(2),
        target: `<= ${s(leaseTtlMs + 1000)} (TTL + 1 s)`,
        pass: (handed.at(-1) as number) <= leaseTtlMs + 1000,
      },
    ];
  } finally {
    await cleanup();
  }
}
