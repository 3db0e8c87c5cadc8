import { once } from "node:events";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, silentLogger } from "@clawguard/shared/log";
import { processAlive } from "@clawguard/shared/process";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type FenceStore, memoryFenceStore } from "../store/fence-store.ts";
import type { ActionNote } from "../store/incident-store.ts";
import { type Heartbeat, openLiveness } from "../store/liveness/index.ts";
import { deleteKeys, redisAvailable, TEST_REDIS } from "../store/liveness/test-backends.ts";
import { type Actuator, Controller, commandActuator } from "./index.ts";
import { localLease } from "./lease.ts";
import { getRoute } from "./routes.ts";

/**
 * A failover drill with real processes: two stand-in gateways on ONE state directory (each takes
 * its single-instance lock, so a double start shows as a refusal), started and stopped by the
 * command actuator; the primary is killed -9, restarted in place, killed again, then failed over.
 */

const STAND_IN = fileURLToPath(new URL("./stand-in-gateway.ts", import.meta.url));
const dir = tempDir("clawguard-drill-");
const state = join(dir.path, "state");
mkdirSync(state);
const pids = () => ({
  primary: pidAt(18_971),
  standby: pidAt(18_972),
});
afterAll(() => {
  for (const pid of Object.values(pids())) if (pid) kill(pid);
  dir.cleanup();
});

function pidAt(port: number): number | undefined {
  try {
    return Number(readFileSync(join(state, `pid-${port}`), "utf8"));
  } catch {
    return undefined;
  }
}
const pidAlive = (pid: number | undefined) => pid !== undefined && processAlive(pid);
function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}
const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const answers = async (port: number) => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
  } catch {
    return false;
  }
};

describe("failover drill", () => {
  it("restarts a killed primary in place, then fences it and promotes the standby on the same state", {
    timeout: 60_000,
  }, async () => {
    const node = process.execPath;
    const actuator = commandActuator(
      {
        start: ["sh", "-c", `"${node}" "${STAND_IN}" --port {port} --state "${state}" >/dev/null 2>&1 &`],
        stop: ["sh", "-c", `kill -9 $(cat "${state}/pid-{port}") 2>/dev/null; true`],
      },
      10_000,
    );
    const targets = { gw: "http://127.0.0.1:18971", "gw-standby": "http://127.0.0.1:18972" };
    const liveness = await openLiveness({ staleFactor: 3, keyPrefix: "test:", log: silentLogger });
    const lease = localLease();
    const controller = new Controller({
      lease,
      liveness,
      prefix: "test:",
      groups: [{ name: "gw", primary: "gw", standby: "gw-standby", targets }],
      actuator,
      policy: {
        unhealthyForMs: 0,
        restartBudget: 1,
        restartWindowMs: 600_000,
        restartBackoffMs: 0,
        minFailoverIntervalMs: 60_000,
        holdStaleShare: 0.9,
        holdMinStale: 2,
      },
      staleFactor: 3,
      tickMs: 100,
      downTimeoutMs: 5000,
      readyTimeoutMs: 10_000,
      log: process.env.DRILL_LOG ? createLogger({ level: "debug" }) : silentLogger,
    });
    // What the gateway's sidecar would report; the drill says it for it.
    const beat = (agent: string, state: Heartbeat["state"]) =>
      liveness.record(
        {
          agent,
          role: "gateway",
          host: "h",
          state,
          reasons: state === "unhealthy" ? ["ready: connection refused"] : [],
          probes: [],
          versions: {},
          configFingerprint: "f".repeat(64),
          intervalMs: 10_000,
          time: new Date().toISOString(),
        },
        Date.now(),
      );

    await actuator.start("gw", targets.gw, 0);
    await waitFor("the primary up", () => answers(18_971));
    await beat("gw", "healthy");
    await beat("gw-standby", "unknown");
    await controller.tick();
    expect((await getRoute(lease, "gw"))?.target).toBe(targets.gw);

    // kill -9: its sidecar reports it unhealthy; the controller restarts it in place.
    const first = pids().primary;
    kill(first as number);
    await beat("gw", "unhealthy");
    await controller.tick();
    await waitFor("the primary restarted", async () => (await answers(18_971)) && pids().primary !== first);
    expect(pidAlive(pids().standby)).toBe(false);

    // Killed again: the restart budget is spent, so it fails over to the standby, on the same state.
    kill(pids().primary as number);
    await beat("gw", "unhealthy");
    await controller.tick();
    expect(await answers(18_972)).toBe(true);
    expect(pidAlive(pids().primary)).toBe(false); // fenced: never two gateways on one state
    expect(Number(readFileSync(join(state, "LOCK"), "utf8"))).toBe(pids().standby);
    expect(await getRoute(lease, "gw")).toMatchObject({ target: targets["gw-standby"] });
    expect(controller.group("gw")).toMatchObject({ primary: "gw-standby", standby: "gw" });

    // A second failover right away is held by flap protection.
    await beat("gw-standby", "unhealthy");
    await controller.tick(); // restart in place first (budget 1)
    await waitFor("the standby restarted", () => answers(18_972));
    await beat("gw-standby", "unhealthy");
    await controller.tick();
    expect(await getRoute(lease, "gw")).toMatchObject({ target: targets["gw-standby"] });
    await controller.stop();
    await liveness.close();
  });
});

describe("controller", () => {
  it("observes the new primary afresh after a failover: an old stale record never fails it back", async () => {
    // The standby answers /readyz; nothing listens where the fenced primary was.
    const standby = createServer((_req, res) => res.writeHead(200).end("ready"));
    standby.listen(0, "127.0.0.1");
    await once(standby, "listening");
    const gone = createServer();
    gone.listen(0, "127.0.0.1");
    await once(gone, "listening");
    const gonePort = (gone.address() as AddressInfo).port;
    gone.close();
    const targets = {
      gw: `http://127.0.0.1:${gonePort}`,
      "gw-standby": `http://127.0.0.1:${(standby.address() as AddressInfo).port}`,
    };
    const calls: string[] = [];
    const actuator: Actuator = {
      restart: async (agent) => void calls.push(`restart ${agent}`),
      stop: async (agent) => void calls.push(`stop ${agent}`),
      start: async (agent) => void calls.push(`start ${agent}`),
    };
    const notes: string[] = [];
    const incidents = {
      note: async (agent: string, note: ActionNote) => void notes.push(`${note.action} ${agent} ${note.at}`),
    };
    const liveness = await openLiveness({ staleFactor: 3, keyPrefix: "test:", log: silentLogger });
    const lease = localLease();
    let now = 0;
    const controller = new Controller({
      lease,
      liveness,
      prefix: "test:",
      groups: [{ name: "gw", primary: "gw", standby: "gw-standby", targets }],
      actuator,
      incidents,
      policy: {
        unhealthyForMs: 3000,
        restartBudget: 0,
        restartWindowMs: 600_000,
        restartBackoffMs: 0,
        minFailoverIntervalMs: 1000,
        holdStaleShare: 0.9,
        holdMinStale: 2,
      },
      staleFactor: 3,
      tickMs: 100,
      downTimeoutMs: 1000,
      readyTimeoutMs: 1000,
      log: silentLogger,
      now: () => now,
    });
    const beat = (agent: string, at: number) =>
      liveness.record(
        {
          agent,
          role: "gateway",
          host: "h",
          state: "healthy",
          reasons: [],
          probes: [],
          versions: {},
          configFingerprint: "f".repeat(64),
          intervalMs: 1000,
          time: new Date(at).toISOString(),
        },
        at,
      );
    try {
      // The standby's sidecar was last heard from long ago (its last turn as primary); the primary's
      // stops now. A third agent keeps the fleet from looking stale as a whole.
      await beat("gw-standby", 0);
      await beat("gw", 0);
      await controller.tick(); // leading since 0: gw's heartbeat then is news of it
      await liveness.sweep(10_000);
      await beat("sub1", 10_000);
      now = 10_000;
      await controller.tick(); // gw stale: waits out the hysteresis
      now = 13_000;
      await controller.tick();
      expect(calls).toEqual(["stop gw", "start gw-standby"]);
      expect(controller.group("gw")).toMatchObject({ primary: "gw-standby", lastFailoverAt: 13_000 });
      expect((await getRoute(lease, "gw"))?.target).toBe(targets["gw-standby"]);
      // Each step in the incidents of the agents it concerns: the fenced primary's tells the whole story.
      const at = new Date(13_000).toISOString();
      expect(notes).toEqual([
        `fence gw ${at}`,
        `standby-started gw ${at}`,
        `standby-started gw-standby ${at}`,
        `route-switched gw ${at}`,
        `route-switched gw-standby ${at}`,
      ]);

      // Flap protection is over, the new primary's sidecar has not reported yet: its stale record is
      // from before it was started, and counts from now, not from 10 s ago.
      now = 14_000;
      await controller.tick();
      now = 16_900;
      await controller.tick();
      expect(calls).toEqual(["stop gw", "start gw-standby"]);
      expect(controller.group("gw")).toMatchObject({ primary: "gw-standby" });
      // Nor later, for as long as it stays silent: it was ready when the route moved to it, and a
      // record from before that says nothing of it (failing back would fence a serving gateway).
      now = 60_000;
      await controller.tick();
      expect(calls).toEqual(["stop gw", "start gw-standby"]);
      // Its sidecar reports: nothing to do.
      await beat("gw-standby", 60_050);
      now = 64_000;
      await controller.tick();
      expect(calls).toEqual(["stop gw", "start gw-standby"]);
      expect(notes).toHaveLength(5);
    } finally {
      await controller.stop();
      await liveness.close();
      standby.close();
    }
  });
});

describe("controller: a fleet back from `docker compose down` and `up`", () => {
  it("does not fail over a primary whose last heartbeat is from before it led, until it stays silent a window", async () => {
    const calls: string[] = [];
    const actuator: Actuator = {
      restart: async (agent) => void calls.push(`restart ${agent}`),
      stop: async (agent) => void calls.push(`stop ${agent}`),
      start: async (agent) => void calls.push(`start ${agent}`),
    };
    // Nothing answers /readyz where the primary was (its target tells nothing either); the standby does.
    const gone = createServer();
    gone.listen(0, "127.0.0.1");
    await once(gone, "listening");
    const target = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
    gone.close();
    const standby = createServer((_req, res) => res.writeHead(200).end("ready"));
    standby.listen(0, "127.0.0.1");
    await once(standby, "listening");
    const standbyTarget = `http://127.0.0.1:${(standby.address() as AddressInfo).port}`;
    const run = async (gatewayBeatsAt: number | undefined) => {
      calls.length = 0;
      const liveness = await openLiveness({ staleFactor: 3, keyPrefix: "test:", log: silentLogger });
      let now = 0;
      const controller = new Controller({
        lease: localLease(),
        liveness,
        prefix: "test:",
        groups: [
          {
            name: "gw",
            primary: "gw",
            standby: "gw-standby",
            targets: { gw: target, "gw-standby": standbyTarget },
          },
        ],
        actuator,
        incidents: { note: async () => {} },
        policy: {
          unhealthyForMs: 3000,
          restartBudget: 0,
          restartWindowMs: 600_000,
          restartBackoffMs: 0,
          minFailoverIntervalMs: 1000,
          holdStaleShare: 0.5,
          holdMinStale: 2,
        },
        staleFactor: 3,
        tickMs: 100,
        downTimeoutMs: 1000,
        readyTimeoutMs: 1000,
        log: silentLogger,
        now: () => now,
      });
      const beat = (agent: string, at: number) =>
        liveness.record(
          {
            agent,
            role: agent === "gw" ? "gateway" : "sub-agent",
            host: "h",
            state: "healthy",
            reasons: [],
            probes: [],
            versions: {},
            configFingerprint: "f".repeat(64),
            intervalMs: 1000,
            time: new Date(at).toISOString(),
          },
          at,
        );
      try {
        // Everything stopped at 0 (the last heartbeats); the project comes up at 100 s, the collector
        // first: every record is stale to it. The sub-agents' sidecars report first, the gateway's late.
        for (const a of ["gw", "sub1", "sub2", "sub3"]) await beat(a, 0);
        await liveness.sweep(100_000);
        const tickAt = async (t: number) => {
          now = t;
          await liveness.sweep(t);
          await controller.tick();
        };
        await tickAt(100_000);
        for (const a of ["sub1", "sub2", "sub3"]) await beat(a, 100_500);
        for (const t of [101_000, 102_000, 103_000, 103_500]) {
          for (const a of ["sub1", "sub2", "sub3"]) await beat(a, t - 200);
          await tickAt(t);
        }
        if (gatewayBeatsAt !== undefined) await beat("gw", gatewayBeatsAt);
        for (const t of [104_500, 106_500, 110_000]) {
          for (const a of ["sub1", "sub2", "sub3", ...(gatewayBeatsAt !== undefined ? ["gw"] : [])])
            await beat(a, t - 200);
          await tickAt(t);
        }
        return [...calls];
      } finally {
        await controller.stop();
        await liveness.close();
      }
    };
    // Its sidecar reports 4 s after the collector started leading (later than the hysteresis after
    // the fleet came back, within a staleness window): nothing is done to it. It was failed over
    // at 103.5 s before: stale to the collector since its start.
    expect(await run(104_000)).toEqual([]);
    // It never reports: one staleness window (3 s) from when the collector began to lead, then the
    // hysteresis (3 s), then it is failed over.
    expect(await run(undefined)).toEqual(["stop gw", "start gw-standby"]);
    standby.close();
  });
});

describe("controller: agents with no standby", () => {
  it("restarts them in place with backoff and a budget, then holds, recording each action in their incidents", async () => {
    const calls: string[] = [];
    const actuator: Actuator = {
      restart: async (agent, target, token) => void calls.push(`restart ${agent} ${target ?? "-"} ${token}`),
      stop: async (agent) => void calls.push(`stop ${agent}`),
      start: async (agent) => void calls.push(`start ${agent}`),
    };
    const notes: { agent: string; note: ActionNote }[] = [];
    const incidents = { note: async (agent: string, note: ActionNote) => void notes.push({ agent, note }) };
    const liveness = await openLiveness({ staleFactor: 3, keyPrefix: "test:", log: silentLogger });
    const lease = localLease();
    let now = 0;
    const options = {
      lease,
      liveness,
      prefix: "test:",
      // gw-standby is a gateway's standby: never restarted in place, whatever its role.
      groups: [
        {
          name: "gw",
          primary: "gw",
          standby: "gw-standby",
          targets: { gw: "http://127.0.0.1:1", "gw-standby": "http://127.0.0.1:2" },
        },
      ],
      restart: { agents: ["sub1", "gw-standby"], roles: ["bot"], targets: { bot1: "http://127.0.0.1:3" } },
      actuator,
      incidents,
      policy: {
        unhealthyForMs: 3000,
        restartBudget: 2,
        restartWindowMs: 600_000,
        restartBackoffMs: 1000,
        minFailoverIntervalMs: 60_000,
        holdStaleShare: 0.5,
        holdMinStale: 2,
      },
      staleFactor: 3,
      tickMs: 100,
      downTimeoutMs: 1000,
      readyTimeoutMs: 1000,
      log: silentLogger,
      now: () => now,
    };
    const controller = new Controller(options);
    const beat = (agent: string, role: string, state: Heartbeat["state"]) =>
      liveness.record(
        {
          agent,
          role,
          host: "h",
          state,
          reasons: state === "healthy" ? [] : ["chat: HTTP 403"],
          probes: [],
          versions: {},
          configFingerprint: "f".repeat(64),
          intervalMs: 1_000_000,
          time: new Date(now).toISOString(),
        },
        now,
      );
    const actions = () => notes.map(({ agent, note }) => `${note.action} ${agent} ${note.token}`);
    try {
      await beat("gw", "gateway", "healthy");
      await beat("gw-standby", "bot", "unhealthy");
      await beat("sub1", "sub-agent", "unhealthy");
      await beat("bot1", "bot", "unhealthy");
      await beat("worker", "worker", "unhealthy"); // neither named nor of a restarted role
      await controller.tick(); // hysteresis
      now = 2999;
      await controller.tick();
      expect(calls).toEqual([]);
      now = 3000;
      await controller.tick();
      const token = (await lease.acquire()) as number;
      expect(calls).toEqual([`restart bot1 http://127.0.0.1:3 ${token}`, `restart sub1 - ${token}`]);
      expect(notes[1]).toEqual({
        agent: "sub1",
        note: {
          action: "restart",
          detail: "sub1 unhealthy for 3000 ms: restart in place (1 of 2)",
          token,
          at: new Date(3000).toISOString(),
        },
      });
      // Observed afresh after the restart: still unhealthy, so the hysteresis runs again, then the backoff.
      now = 3100;
      await controller.tick();
      now = 6099;
      await controller.tick();
      expect(calls).toHaveLength(2);
      now = 6100;
      await controller.tick();
      expect(calls).toHaveLength(4);
      expect(JSON.parse((await lease.fencedGet("restart:sub1"))?.value ?? "")).toEqual({
        restarts: [3000, 6100],
      });

      // The budget is spent: held, recorded once (not on every tick), with what to do.
      now = 9000;
      await controller.tick();
      now = 20_000;
      await controller.tick();
      expect(calls).toHaveLength(4);
      expect(actions()).toEqual([
        `restart bot1 ${token}`,
        `restart sub1 ${token}`,
        `restart bot1 ${token}`,
        `restart sub1 ${token}`,
        `budget-spent bot1 ${token}`,
        `budget-spent sub1 ${token}`,
      ]);
      expect(notes.at(-1)?.note.detail).toMatch(/still unhealthy after 2 restart\(s\).*restart it by hand/);

      // Another leader goes on from the shared memory: the budget stays spent.
      await controller.stop();
      const next = new Controller(options);
      now = 30_000;
      await next.tick();
      expect(calls).toHaveLength(4);
      await next.stop();
    } finally {
      await controller.stop();
      await liveness.close();
    }
  });
});

const redisUp = await redisAvailable();

describe("controller: a primary with no heartbeat on record", () => {
  /**
   * `redisPrefix`: liveness in the test Redis under a prefix of the test's own (else in process);
   * `fence`: the durable store replicas share (else one of its own).
   */
  const setup = async (
    redisPrefix?: string,
    fence: FenceStore = memoryFenceStore(),
    stalled?: () => boolean,
    /** serving: the primary answers /readyz; sidecars: the actuator can restart a sidecar. */
    options: { serving?: boolean; sidecars?: boolean; restartBudget?: number } = {},
  ) => {
    const gone = createServer((_req, res) => res.writeHead(200).end("ready"));
    gone.listen(0, "127.0.0.1");
    await once(gone, "listening");
    const gonePort = (gone.address() as AddressInfo).port;
    if (!options.serving) gone.close();
    const standby = createServer((_req, res) => res.writeHead(200).end("ready"));
    standby.listen(0, "127.0.0.1");
    await once(standby, "listening");
    const targets = {
      gw: `http://127.0.0.1:${gonePort}`,
      "gw-standby": `http://127.0.0.1:${(standby.address() as AddressInfo).port}`,
    };
    const calls: string[] = [];
    const actuator: Actuator = {
      restart: async (agent) => void calls.push(`restart ${agent}`),
      stop: async (agent) => void calls.push(`stop ${agent}`),
      start: async (agent) => void calls.push(`start ${agent}`),
      ...(options.sidecars
        ? { restartSidecar: async (agent: string) => void calls.push(`sidecar ${agent}`) }
        : {}),
    };
    const notes: string[] = [];
    const details: string[] = [];
    const incidents = {
      note: async (agent: string, note: ActionNote) => {
        notes.push(`${note.action} ${agent}`);
        details.push(note.detail);
      },
    };
    const liveness = await openLiveness({
      staleFactor: 3,
      keyPrefix: redisPrefix ?? "test:",
      redisUrl: redisPrefix ? TEST_REDIS : undefined,
      log: silentLogger,
    });
    const clock = { now: 0 };
    const lease = localLease(fence);
    const controller = new Controller({
      lease,
      liveness,
      prefix: "test:",
      groups: [{ name: "gw", primary: "gw", standby: "gw-standby", targets }],
      actuator,
      incidents,
      policy: {
        unhealthyForMs: 2000,
        restartBudget: options.restartBudget ?? 0,
        restartWindowMs: 600_000,
        restartBackoffMs: 0,
        minFailoverIntervalMs: 60_000,
        holdStaleShare: 0.5,
        holdMinStale: 2,
      },
      staleFactor: 3,
      tickMs: 100,
      downTimeoutMs: 1000,
      readyTimeoutMs: 1000,
      log: silentLogger,
      now: () => clock.now,
      stalled,
    });
    const beat = (agent: string, at: number) =>
      liveness.record(
        {
          agent,
          role: "gateway",
          host: "h",
          state: "healthy",
          reasons: [],
          probes: [],
          versions: {},
          configFingerprint: "f".repeat(64),
          intervalMs: 1000,
          time: new Date(at).toISOString(),
        },
        at,
      );
    const done = async () => {
      await controller.stop();
      await liveness.close();
      standby.close();
      gone.close();
    };
    return { controller, lease, liveness, calls, notes, details, clock, beat, done };
  };

  it("counts as stale once the staleness window has passed with no heartbeat (Redis lost it, its sidecar is gone), and fails over", {
    timeout: 20_000,
  }, async () => {
    const { controller, calls, notes, clock, beat, done } = await setup();
    try {
      // Only the standby's sidecar reports (the primary's record went with Redis's data).
      for (const at of [0, 1000, 2000, 3000]) {
        clock.now = at;
        await beat("gw-standby", at);
        await controller.tick();
      }
      // Within the window (3 × 1000 ms from the first tick): not heard from yet, nothing done.
      expect(calls).toEqual([]);
      for (const at of [3100, 4000, 4900]) {
        clock.now = at;
        await beat("gw-standby", at);
        await controller.tick();
      }
      // Stale from 3000 on: the hysteresis (2000 ms) is not over at 4900.
      expect(calls).toEqual([]);
      clock.now = 5000;
      await controller.tick();
      expect(calls).toEqual(["stop gw", "start gw-standby"]);
      expect(notes[0]).toBe("unheard gw");
      expect(notes).toContain("route-switched gw");
    } finally {
      await done();
    }
  });

  it.skipIf(!redisUp)(
    "a primary last seen healthy whose record Redis then lost (its pod killed just before): stale after the window, failed over",
    { timeout: 20_000 },
    async () => {
      const prefix = `clawguard-test-unheard-${process.pid}-${Date.now()}:`;
      const { controller, calls, notes, clock, beat, done } = await setup(prefix);
      try {
        await beat("gw", 0);
        await beat("gw-standby", 0);
        await controller.tick();
        // The pod (gateway and sidecar) is killed; 500 ms later Redis comes back empty (the
        // liveness keys of this test's prefix deleted, nothing else: the shared Redis is not flushed).
        expect(await deleteKeys(prefix)).toBeGreaterThan(0);
        for (const at of [500, 1500, 2500, 3500]) {
          clock.now = at;
          await beat("gw-standby", at);
          await controller.tick();
        }
        // Last seen healthy, but not heard from since 500: within the window (3000 ms) nothing.
        expect(calls).toEqual([]);
        for (const at of [4500, 5400]) {
          clock.now = at;
          await beat("gw-standby", at);
          await controller.tick();
        }
        expect(calls).toEqual([]);
        clock.now = 5500;
        await controller.tick();
        expect(calls).toEqual(["stop gw", "start gw-standby"]);
        expect(notes[0]).toBe("unheard gw");
      } finally {
        await done();
        await deleteKeys(prefix);
      }
    },
  );

  /** gw and its standby heard at 0, then only the standby: gw's sidecar is silent from then on. */
  const silence = async (t: Awaited<ReturnType<typeof setup>>, until: number) => {
    for (let at = 1000; at <= until; at += 1000) {
      t.clock.now = at;
      await t.beat("gw-standby", at);
      await t.liveness.sweep(at);
      await t.controller.tick();
    }
  };

  it("a silent sidecar beside a gateway that still answers: its sidecar restarted (budget, backoff), then held; never fenced", {
    timeout: 20_000,
  }, async () => {
    const t = await setup(undefined, undefined, undefined, {
      serving: true,
      sidecars: true,
      restartBudget: 2,
    });
    try {
      await t.beat("gw", 0);
      await t.beat("gw-standby", 0);
      await t.controller.tick();
      // Stale from 4000 (3 × 1000 ms), the hysteresis (2000 ms) over at 6000: its sidecar restarted.
      await silence(t, 6000);
      expect(t.calls).toEqual(["sidecar gw"]);
      expect(t.notes).toContain("sidecar-restart gw");
      // Still silent: once more after the backoff (0 here) and the hysteresis, then the budget is spent.
      await silence(t, 20_000);
      expect(t.calls).toEqual(["sidecar gw", "sidecar gw"]);
      expect(t.notes).toContain("hold gw");
      expect(t.details.at(-1)).toMatch(/answers \/readyz: not fenced.*restarted 2 time\(s\)/);
      expect((await getRoute(t.lease, "gw"))?.target).toMatch(/^http:\/\/127\.0\.0\.1:/);
      expect(t.controller.group("gw")).toMatchObject({ primary: "gw" });
    } finally {
      await t.done();
    }
  });

  it("a silent sidecar and an actuator that cannot restart one: held and said, never fenced", {
    timeout: 20_000,
  }, async () => {
    const t = await setup(undefined, undefined, undefined, { serving: true, restartBudget: 2 });
    try {
      await t.beat("gw", 0);
      await t.beat("gw-standby", 0);
      await t.controller.tick();
      await silence(t, 10_000);
      expect(t.calls).toEqual([]);
      expect(t.notes).toEqual(["hold gw"]);
      expect(t.details[0]).toMatch(/cannot restart a sidecar.*restart it by hand/);
    } finally {
      await t.done();
    }
  });

  it("a silent sidecar beside a gateway that does not answer either (killed): restarted in place, then failed over", {
    timeout: 20_000,
  }, async () => {
    const t = await setup(undefined, undefined, undefined, { sidecars: true, restartBudget: 1 });
    try {
      await t.beat("gw", 0);
      await t.beat("gw-standby", 0);
      await t.controller.tick();
      await silence(t, 6000);
      expect(t.calls).toEqual(["restart gw"]);
      expect(t.details.at(-1)).toMatch(/does not answer at its address: restart in place \(1 of 1\)/);
      // Still silent after the restart: observed afresh (hysteresis), then the budget is spent.
      await silence(t, 9000);
      expect(t.calls).toEqual(["restart gw", "stop gw", "start gw-standby"]);
      expect(t.notes).toContain("route-switched gw");
    } finally {
      await t.done();
    }
  });

  it("fails over a one-agent fleet (the standby runs no sidecar): one stale agent is no partition", {
    timeout: 20_000,
  }, async () => {
    const { controller, liveness, calls, clock, beat, done } = await setup();
    try {
      await beat("gw", 0);
      await controller.tick();
      await liveness.sweep(4000);
      clock.now = 4000;
      await controller.tick();
      clock.now = 6100;
      await controller.tick();
      expect(calls).toEqual(["stop gw", "start gw-standby"]);
    } finally {
      await done();
    }
  });

  it("knows a primary's heartbeat interval after Redis lost its record and the lease changed hands (durable, not the replica's memory)", {
    timeout: 20_000,
  }, async () => {
    const fence = memoryFenceStore();
    const first = await setup(undefined, fence);
    // The first leader hears gw (every 1000 ms) and the standby, then stops leading.
    await first.beat("gw", 0);
    await first.beat("gw-standby", 0);
    await first.controller.tick();
    await first.done();
    // Another replica takes the lease (token 2) after Redis lost its data: it never heard a
    // heartbeat of gw, and its liveness is empty (the standby runs no sidecar).
    const second = await setup(undefined, fence);
    try {
      for (const at of [0, 3100]) {
        second.clock.now = at;
        await second.controller.tick();
      }
      // gw's own window (3 × 1000 ms), not the default's: counted as stale at 3000.
      expect(second.notes).toEqual(["unheard gw"]);
      expect(second.details[0]).toContain("3000 ms: its heartbeat interval as last seen, 1000 ms");
      second.clock.now = 5100;
      await second.controller.tick();
      expect(second.calls).toEqual(["stop gw", "start gw-standby"]);
    } finally {
      await second.done();
    }
    // No interval ever seen: the sidecar's default (5000 ms) × 3.
    const fresh = await setup();
    try {
      for (const at of [0, 15_100]) {
        fresh.clock.now = at;
        await fresh.controller.tick();
      }
      expect(fresh.notes).toEqual(["unheard gw"]);
      expect(fresh.details[0]).toContain("15000 ms: the sidecar's default heartbeat interval");
    } finally {
      await fresh.done();
    }
  });

  it("marks an entry made under a token a newer leader has superseded (a leader paused mid-step)", {
    timeout: 20_000,
  }, async () => {
    const fence = memoryFenceStore();
    const old = await setup(undefined, fence);
    try {
      await old.beat("gw-standby", 0);
      await old.controller.tick();
      // Paused: meanwhile another replica was granted token 2.
      expect(await localLease(fence).acquire()).toBe(2);
      old.clock.now = 3100;
      await old.controller.tick();
      expect(old.notes).toEqual(["stale-unheard gw"]);
      expect(old.details[0]).toMatch(/^under token 1, superseded by token 2/);
    } finally {
      await old.done();
    }
  });

  it("holds while the collector is just back from a stall of its own, then counts the window afresh", {
    timeout: 20_000,
  }, async () => {
    let stalled = false;
    const { controller, calls, notes, clock, beat, done } = await setup(undefined, undefined, () => stalled);
    try {
      await beat("gw-standby", 0);
      await controller.tick();
      // SIGSTOP past the window: on resume the fleet (stall.ts) holds; nothing is judged.
      stalled = true;
      for (const at of [18_000, 19_000, 20_900]) {
        clock.now = at;
        await beat("gw-standby", at);
        await controller.tick();
      }
      // Held, and said once (the hold is a reason of its own in gw's incident).
      expect([calls, notes]).toEqual([[], ["hold gw"]]);
      // The hold is over: gw is given its window (3000 ms) from the last held tick, not from 0.
      stalled = false;
      for (const at of [21_000, 23_800]) {
        clock.now = at;
        await beat("gw-standby", at);
        await controller.tick();
      }
      expect(notes).toEqual(["hold gw"]);
      clock.now = 24_000;
      await beat("gw-standby", 24_000);
      await controller.tick();
      expect(notes).toEqual(["hold gw", "unheard gw"]);
    } finally {
      await done();
    }
  });
});
