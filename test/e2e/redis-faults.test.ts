import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { leaseKeys, readActions, readRoute, redisCall, staleAuthority, until } from "../support/drill.ts";
import { type PrivateRedis, privateRedisMissing, startPrivateRedis } from "../support/private-stores.ts";
import { freePort, type Managed, Processes, runCli, waitUntilUp } from "../support/processes.ts";

/**
 * Chaos drill, Redis: two collector replicas on one PostgreSQL and a Redis of the drill's own, a
 * primary and a (slow) standby stand-in gateway on one state, `clawguard router` in front. The
 * primary dies with its sidecar (a pod: nothing will ever send its heartbeats again); the leader A
 * fences it and starts the standby; while the standby gets ready, A is
 * SIGSTOPped and Redis is killed and restarted EMPTY (no persistence: the lease, the route's copy,
 * liveness, all gone). B takes the lease under a token drawn from PostgreSQL (newer than A's,
 * whatever Redis forgot); A is resumed and tries to repoint the group under its old token: refused
 * by PostgreSQL, A steps down. B has no record of the primary at all (Redis forgot it, its sidecar
 * is gone): one staleness window after taking the lease it counts it as stale and fails over. Then:
 * no route written under a stale token, the group serves from the standby within lease TTL +
 * failover time (staleness window, hysteresis, the standby's start), and no stop/start loop.
 *
 * Twice: A SIGSTOPped as it starts the standby, wherever it is, and resumed as soon as B leads (its
 * stale write is refused); and A stopped INSIDE a transaction, holding the row lock of the standby's
 * state while it notes the start (a trap makes that deterministic: see rowTrap), as a frozen VM
 * would leave it, and kept paused until the standby serves: PostgreSQL ends that session
 * (idle_in_transaction_session_timeout), or B's incident notes, the standby's heartbeats and so the
 * failover would wait for A for as long as it is paused.
 */

const PAUSES = [
  "as it starts the standby, resumed once B leads",
  "inside a transaction, until the standby serves",
] as const;

const STAND_IN = fileURLToPath(
  new URL("../../collector/src/controller/stand-in-gateway.ts", import.meta.url),
);
const ACTUATOR = fileURLToPath(new URL("../support/drill-actuator.ts", import.meta.url));

const LEASE_TTL_MS = 2000;
const TICK_MS = 200;
const UNHEALTHY_FOR_MS = 2000;
const HEARTBEAT_MS = 1000;
const STALE_FACTOR = 3;
const SLOW_STANDBY_MS = 4000;
const READY_TIMEOUT_MS = 10_000;

const pgUp = await postgresAvailable();
const missing = privateRedisMissing();
if (missing) console.warn(`[redis-faults] private Redis not possible (${missing}): drill skipped`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
};

for (const pause of PAUSES)
  describe.skipIf(!pgUp || missing !== undefined)(
    `failover while Redis loses its data (private Redis); A paused ${pause}`,
    () => {
      const inTransaction = pause === PAUSES[1];
      const procs = new Processes();
      const dir = tempDir("clawguard-redis-faults-");
      const prefix = "clawguard:";
      const state = join(dir.path, "state");
      const actionsLog = join(dir.path, "actions.jsonl");
      const gatewayLog = join(dir.path, "gateways.log");
      const tokensFile = join(dir.path, "tokens");
      const readToken = randomBytes(16).toString("hex");
      const tokens = Object.fromEntries(
        ["gw", "gw-standby"].map((a) => [a, randomBytes(16).toString("hex")]),
      );
      let redis: PrivateRedis;
      let db: Awaited<ReturnType<typeof createTestDatabase>>;
      let ports: { a: number; b: number; gw: number; standby: number; router: number };
      let targets: Record<string, string>;
      const started: number[] = [];

      const pidFile = (port: number) => {
        try {
          return Number(readFileSync(join(state, `pid-${port}`), "utf8"));
        } catch {
          return undefined;
        }
      };
      const granted = async () => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          const fence = await client.query<{ granted: string }>(
            "SELECT granted FROM fencing WHERE name = 'controller'",
          );
          const route = await client.query<{ value: string; token: string }>(
            "SELECT value, token FROM fenced_state WHERE key = 'route:gw'",
          );
          const row = route.rows[0];
          return {
            granted: Number(fence.rows[0]?.granted ?? 0),
            route: row
              ? { target: (JSON.parse(row.value) as { target: string }).target, token: Number(row.token) }
              : null,
          };
        } finally {
          await client.end();
        }
      };
      const holderPid = async () => {
        const [lease] = await redisCall(redis.url, [["GET", leaseKeys(prefix).lease]]).catch(() => [null]);
        return typeof lease === "string"
          ? Number(lease.slice(lease.indexOf(":") + 1, lease.indexOf("|")))
          : undefined;
      };

      function startReplica(name: string, port: number): Managed {
        const actuator = (action: string) => [
          process.execPath,
          ACTUATOR,
          ...["--log", actionsLog, "--redis", redis.url, "--database", db.url, "--prefix", prefix],
          ...["--state", state, "--gateway-log", gatewayLog, "--slow", `${ports.standby}:${SLOW_STANDBY_MS}`],
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
            actuator: {
              kind: "command",
              start: actuator("start"),
              stop: actuator("stop"),
              timeoutMs: 10_000,
            },
            tickMs: TICK_MS,
            unhealthyForMs: UNHEALTHY_FOR_MS,
            restartBudget: 0,
            minFailoverIntervalMs: 600_000,
            downTimeoutMs: 3000,
            readyTimeoutMs: READY_TIMEOUT_MS,
            leaseTtlMs: LEASE_TTL_MS,
          },
        };
        const file = join(dir.path, `${name}.yaml`);
        writeFileSync(file, JSON.stringify(config, null, 2));
        return procs.cli(
          name,
          ["collector", "--config", file],
          {
            DATABASE_URL: db.url,
            REDIS_URL: redis.url,
            CLAWGUARD_INGEST_TOKENS_FILE: tokensFile,
            CLAWGUARD_READ_TOKEN: readToken,
            CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
            CLAWGUARD_LOG_LEVEL: "info",
            CLAWGUARD_LOG_FORMAT: "json",
          },
          dir.path,
        );
      }

      const startSidecar = (agent: string, probeUrl?: string) =>
        procs.drillSidecar({
          dir: dir.path,
          agent,
          role: "gateway",
          token: tokens[agent] as string,
          collectorUrl: `http://127.0.0.1:${ports.b}`,
          heartbeatMs: HEARTBEAT_MS,
          probeUrl,
        });

      let a: Managed;
      let b: Managed;
      let router: Managed;
      let primarySidecar: Managed;

      beforeAll(async () => {
        redis = await startPrivateRedis();
        db = await createTestDatabase();
        mkdirSync(state);
        writeFileSync(
          tokensFile,
          Object.entries(tokens)
            .map(([agent, t]) => `${agent} ${t}\n`)
            .join(""),
        );
        ports = {
          a: await freePort(),
          b: await freePort(),
          gw: await freePort(),
          standby: await freePort(),
          router: await freePort(),
        };
        targets = { gw: `http://127.0.0.1:${ports.gw}`, "gw-standby": `http://127.0.0.1:${ports.standby}` };
        const out = openSync(gatewayLog, "a");
        const primary = spawn(process.execPath, [STAND_IN, "--port", String(ports.gw), "--state", state], {
          stdio: ["ignore", out, out],
        });
        closeSync(out);
        started.push(primary.pid as number);
        a = startReplica("replica-a", ports.a);
        await waitUntilUp(`http://127.0.0.1:${ports.a}/readyz`, a, 60_000);
        await until("replica A holding the lease", async () => (await holderPid()) === a.pid);
        b = startReplica("replica-b", ports.b);
        await waitUntilUp(`http://127.0.0.1:${ports.b}/readyz`, b, 60_000);
        [primarySidecar] = await Promise.all([
          startSidecar("gw", `${targets.gw}/readyz`),
          startSidecar("gw-standby"),
        ]);
        router = procs.cli(
          "router",
          ["router", "--group", "gw", "--listen", `127.0.0.1:${ports.router}`],
          { REDIS_URL: redis.url, CLAWGUARD_LOG_FORMAT: "json", CLAWGUARD_LOG_LEVEL: "info" },
          dir.path,
        );
      }, 120_000);

      afterAll(async () => {
        if (a) signal(a.pid, "SIGCONT");
        await procs.cleanup();
        const pids = new Set(started);
        for (const r of readActions(actionsLog)) if (r.action === "start" && r.pid) pids.add(r.pid);
        for (const port of ports ? [ports.gw, ports.standby] : []) {
          const pid = pidFile(port);
          if (pid) pids.add(pid);
        }
        for (const pid of pids) signal(pid, "SIGKILL");
        await redis?.destroy();
        await db?.drop();
        dir.cleanup();
      });

      /**
       * A trap for A: the drill holds gw-standby's agent_states row, so that A's note of the
       * standby's start waits for it inside A's transaction. `stopInside` then SIGSTOPs A while it
       * waits and lets the row go: the server runs A's statement on, and the stopped A holds the
       * row lock, idle in its transaction (as a frozen VM would leave it). Returns that statement.
       */
      const rowTrap = async () => {
        const [holder, watcher] = [
          new pg.Client({ connectionString: db.url }),
          new pg.Client({ connectionString: db.url }),
        ];
        await Promise.all([holder.connect(), watcher.connect()]);
        // The row is there once the standby's first heartbeat was recorded: until then, nothing to lock.
        const row = "SELECT agent FROM agent_states WHERE agent = 'gw-standby'";
        await until("the standby's state recorded", async () => (await watcher.query(row)).rowCount === 1);
        await holder.query("BEGIN");
        await holder.query(`${row} FOR UPDATE`);
        // Outside the holder's transaction: pg_stat_activity is read once per transaction.
        const aSession = async (where: string) =>
          (
            await watcher.query<{ query: string }>(
              `SELECT query FROM pg_stat_activity WHERE application_name = 'clawguard-collector replica-a' AND ${where}`,
            )
          ).rows[0]?.query;
        return {
          stopInside: async (pid: number): Promise<string> => {
            await until("A waiting for the row", () => aSession("wait_event_type = 'Lock'"), 20_000, 10);
            signal(pid, "SIGSTOP");
            await holder.query("COMMIT");
            const at = await until("A stopped holding the row", () =>
              aSession("state = 'idle in transaction' AND backend_xid IS NOT NULL"),
            );
            await Promise.all([holder.end(), watcher.end()]);
            return at;
          },
          release: async () => {
            await Promise.all([holder.end(), watcher.end()]).catch(() => {});
          },
        };
      };

      const serving = async () => {
        const response = await fetch(`http://127.0.0.1:${ports.router}/`, {
          signal: AbortSignal.timeout(1000),
        });
        return response.ok ? ((await response.json()) as { port: number }).port : undefined;
      };

      it("no route under a stale token, served from the standby in time, no stop/start loop", {
        timeout: 90_000,
      }, async () => {
        // A timeout alone says nothing of why: each replica's and the router's last lines, and what was done.
        onTestFailed(() => {
          const tail = (text: string) => text.split("\n").slice(-40).join("\n");
          for (const p of [a, b, router]) console.log(`[redis-faults] ${p.name}:\n${tail(p.output())}`);
          console.log(`[redis-faults] actions:\n${JSON.stringify(readActions(actionsLog))}`);
        });
        await until(
          "the router serving from the primary",
          async () => (await serving().catch(() => 0)) === ports.gw,
        );
        const before = await granted();

        // The primary dies with its sidecar; A fences it and starts the slow standby. While that gets
        // ready, A is paused.
        const trap = inTransaction ? await rowTrap() : undefined;
        onTestFailed(() => trap?.release());
        signal(pidFile(ports.gw) as number, "SIGKILL");
        await primarySidecar.kill("SIGKILL");
        await until(
          "A starting the standby",
          () => readActions(actionsLog).some((r) => r.action === "start" && r.port === ports.standby),
          20_000,
          10,
        );
        let caught: string | undefined;
        if (trap) caught = await trap.stopInside(a.pid);
        else signal(a.pid, "SIGSTOP");
        // Stopped before it repointed the group: the route is still the primary's.
        expect((await granted()).route?.target).toBe(targets.gw);
        const tokenA = (await granted()).granted;

        // Redis is killed and comes back empty.
        const lostAt = Date.now();
        await redis.restartEmpty();
        await until("B holding the lease", async () => (await holderPid()) === b.pid, 10_000);
        // B's token as its lease says (Redis takes the lease a moment before PostgreSQL grants it).
        const [leaseValue] = await redisCall(redis.url, [["GET", leaseKeys(prefix).lease]]);
        const tokenB = Number(String(leaseValue).slice(String(leaseValue).lastIndexOf("|") + 1));
        const takeoverMs = Date.now() - lostAt;

        // A wakes up and finishes its step under its old token (or, paused inside a transaction, only
        // once the standby serves).
        if (!inTransaction) {
          signal(a.pid, "SIGCONT");
          await until("A refused and stepping down", () => a.output().includes("stepping down"), 20_000);
        }
        const servedAt = await until(
          "the router serving from the standby",
          async () => ((await serving().catch(() => 0)) === ports.standby ? Date.now() : undefined),
          30_000,
        );
        if (inTransaction) {
          signal(a.pid, "SIGCONT");
          // Its session was ended while it slept: it finds out as it wakes, its transaction rolled back.
          await until(
            "A told its transaction was ended",
            () => /idle-in-transaction timeout/.test(a.output()),
            10_000,
          );
        }
        // Time for a loop to show, if there were one.
        const actionsAtServe = readActions(actionsLog).length;
        await sleep(4000);
        const actions = readActions(actionsLog);
        const after = await granted();
        const switches = router
          .output()
          .split("\n")
          .filter((l) => l.includes('"route switched"'))
          .map((l) => (JSON.parse(l) as { to: string }).to);
        const by = (pid: number) => (pid === a.pid ? "A" : pid === b.pid ? "B" : String(pid));
        console.log(
          `[redis-faults] A paused ${pause}${caught ? ` (stopped holding the row, at ${JSON.stringify(caught.replace(/\s+/g, " ").slice(0, 80))})` : ""}; tokens: A ${tokenA}, B ${tokenB} (granted before the fault ${before.granted}, after ${after.granted}); ` +
            `B took the lease ${takeoverMs} ms after Redis came back empty; the router served from the standby ${servedAt - lostAt} ms after; ` +
            `route now ${after.route?.target} under token ${after.route?.token}; router switches ${JSON.stringify(switches)}; ` +
            `actions ${JSON.stringify(actions.map((r) => [r.action, r.agent, `token ${r.token}`, by(r.by)]))}; ` +
            `actions in the 4 s after serving: ${actions.length - actionsAtServe}`,
        );

        expect(tokenB).toBeGreaterThan(tokenA);
        // No route written under a stale token: the route is B's, A's write was refused.
        expect(after.route).toEqual({ target: targets["gw-standby"], token: tokenB });
        expect(await readRoute(redis.url, prefix, "gw")).toBe(targets["gw-standby"]);
        expect(switches).toEqual([targets.gw, targets["gw-standby"]]);
        // Served in time: the lease handed over at once (Redis forgot it), then B's own failover: the
        // primary unheard for one staleness window, the hysteresis, the standby's start.
        const windowMs = HEARTBEAT_MS * STALE_FACTOR;
        expect(servedAt - lostAt).toBeLessThanOrEqual(
          LEASE_TTL_MS + windowMs + UNHEALTHY_FOR_MS + SLOW_STANDBY_MS + 5000,
        );
        expect(b.output()).toContain("primary not heard from: counted as stale");
        // Shown: the fleet lists the primary Redis forgot as stale (exit 1), its incident says why.
        const cli = {
          CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${ports.b}`,
          CLAWGUARD_READ_TOKEN: readToken,
        };
        const fleet = await runCli(["fleet"], cli, dir.path);
        expect(fleet.code).toBe(1);
        expect(fleet.stdout).toMatch(
          /^gw +unknown +stale .*\n {4}- no heartbeat since the collector lost its live records/m,
        );
        const incidents = await runCli(["incidents", "--agent", "gw", "--json"], cli, dir.path);
        const notes = (
          JSON.parse(incidents.stdout) as { incidents: { timeline: { action?: string }[] }[] }
        ).incidents
          .flatMap((i) => i.timeline)
          .map((e) => e.action);
        expect(notes).toContain("unheard");
        // No loop: nothing done once the standby serves; at most one stop and one start per replica.
        expect(actions.length).toBe(actionsAtServe);
        for (const action of ["stop", "start"])
          for (const pid of [a.pid, b.pid])
            expect(actions.filter((r) => r.action === action && r.by === pid).length).toBeLessThanOrEqual(1);
        // B acted as the lease holder under the newest token (A's actions were before the fault).
        expect(actions.filter((r) => r.by === b.pid).flatMap((r) => staleAuthority(r) ?? [])).toEqual([]);
        expect(actions.filter((r) => r.by === a.pid && r.token !== tokenA)).toEqual([]);
        expect(a.child.exitCode).toBeNull();
        expect(b.child.exitCode).toBeNull();
      });
    },
  );
