import { alertsConfig } from "@clawguard/collector/alerts/config";
import { AlertEngine } from "@clawguard/collector/alerts/index";
import { localLease } from "@clawguard/collector/controller/lease";
import { Fleet } from "@clawguard/collector/fleet/index";
import { ALERTS_FENCE, DbAlertStateStore } from "@clawguard/collector/store/alert-state-store";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
import { DbFenceStore } from "@clawguard/collector/store/fence-store";
import { IncidentStore } from "@clawguard/collector/store/incident-store";
import { MemoryLiveness } from "@clawguard/collector/store/liveness/memory";
import { migrate } from "@clawguard/collector/store/migrations";
import { createPgDb } from "@clawguard/collector/store/pg/index";
import { silentLogger } from "@clawguard/shared/log";
import { emptyHistogram, type SidecarStats } from "@clawguard/shared/stats";
import { createTestDatabase, postgresAvailable } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { mattermostStandIn } from "../support/monitoring.ts";

/**
 * Notifications grouped per rule (alerts.group) and the alert state kept in the store, on a real
 * PostgreSQL and a Mattermost stand-in: a thousand agents at 9 % errors make a couple of posts, not
 * one per agent (the attack that found it: 2 687 posts in 2 minutes); an engine started on the
 * state another left neither posts again what fires nor forgets to resolve it; a replica whose
 * lease was taken over is fenced off the state.
 */

const pg = await postgresAvailable();
const AGENTS = 1000;

function llmStats(calls: number, failed: number): SidecarStats {
  return {
    spoolBacklog: 0,
    spoolBytes: 0,
    setAside: 0,
    shipperFailingSeconds: 0,
    exec: { runs: 0, spills: 0, denials: 0, failures: 0 },
    memoryBytes: {},
    llm: [
      {
        provider: "openai",
        model: "m",
        calls: { "2xx": calls - failed, "5xx": failed },
        errors: { server_error: failed },
        latency: emptyHistogram(),
        ttft: emptyHistogram(),
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
      },
    ],
  };
}

async function setup() {
  const test = await createTestDatabase();
  const db = createPgDb(test.url, silentLogger);
  await migrate(db);
  const store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "h" });
  const fleet = new Fleet({
    liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
    incidents: new IncidentStore(db),
    staleFactor: 3,
    log: silentLogger,
  });
  const mattermost = await mattermostStandIn();
  const clock = { now: Date.now() };
  const engine = (
    config: Record<string, unknown> = {},
    lease = localLease(new DbFenceStore(db, ALERTS_FENCE)),
  ) =>
    new AlertEngine({
      config: alertsConfig.parse(config),
      targets: [{ kind: "mattermost", name: "mattermost", url: mattermost.url }],
      fleet,
      store,
      lease,
      state: new DbAlertStateStore(db),
      log: silentLogger,
      delivery: { attempts: 1, backoffMs: 10 },
      now: () => clock.now,
    });
  const beat = (agent: string, state: "healthy" | "unhealthy", stats?: SidecarStats) =>
    fleet.heartbeat({
      agent,
      role: agent.startsWith("gw") ? "gateway" : "bot",
      host: "h",
      state,
      reasons: state === "healthy" ? [] : ["gateway: connection refused"],
      probes: [],
      versions: {},
      configFingerprint: "c".repeat(64),
      intervalMs: 600_000,
      time: new Date().toISOString(),
      ...(stats ? { stats } : {}),
    });
  const tick = async (e: AlertEngine) => {
    await e.evaluate();
    await e.drain();
  };
  const close = async () => {
    await mattermost.close();
    await db.close();
    await test.drop();
  };
  return { db, store, engine, clock, beat, tick, mattermost, close };
}

const name = (i: number) => `bot-${String(i).padStart(4, "0")}`;

describe.skipIf(!pg)("alert notifications grouped per rule", () => {
  it("1 000 agents at 9 % errors, crossing over three evaluations: two posts, each listing 20 and the rest counted", {
    timeout: 120_000,
  }, async () => {
    const t = await setup();
    // A window of one round: each agent's rate is that of its last 100 calls.
    const e = t.engine({ errorRate: { windowMs: 10_000, minCalls: 20 } });
    try {
      const calls = new Map<string, { calls: number; failed: number }>();
      const round = async (failing: (i: number) => boolean) => {
        for (let i = 0; i < AGENTS; i += 100)
          await Promise.all(
            Array.from({ length: 100 }, (_, k) => {
              const agent = name(i + k);
              const c = calls.get(agent) ?? { calls: 0, failed: 0 };
              c.calls += 100;
              c.failed += failing(i + k) ? 9 : 0;
              calls.set(agent, c);
              return t.beat(agent, "healthy", llmStats(c.calls, c.failed));
            }),
          );
        await t.tick(e);
        t.clock.now += 10_000;
      };
      await round(() => false);
      // A third of the fleet crosses at each evaluation, as a provider degrading.
      await round((i) => i % 3 === 0);
      await round((i) => i % 3 !== 2);
      await round(() => true);
      expect(e.firing()).toHaveLength(AGENTS);
      expect(t.mattermost.posts).toHaveLength(1); // the first third; the rest wait for the P1 interval
      const first = t.mattermost.posts[0];
      expect(first?.text).toBe("**:rotating_light: FIRING P1 llm_error_rate on 334 agents**");
      const lines = first?.attachments?.[0]?.text?.split("\n") ?? [];
      expect(lines).toHaveLength(21);
      expect(lines[0]).toMatch(/^- bot-0000 \(bot\): bot-0000: 9\.0 % of LLM calls failed/);
      expect(lines[20]).toBe("+314 more");
      t.clock.now += 30_000; // alerts.group.intervalMs.P1 (1 min) since the first post
      await round(() => true);
      expect(t.mattermost.posts.map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P1 llm_error_rate on 334 agents**",
        "**:rotating_light: FIRING P1 llm_error_rate on 666 agents**",
      ]);
      // Every alert is its own audit event; every post one alert.notified naming its agents.
      const events = async (type: string) =>
        (await t.store.query({ type, limit: 2000 })).events.map((ev) => ev.attrs as Record<string, unknown>);
      expect(await events("alert.firing")).toHaveLength(AGENTS);
      const notified = await events("alert.notified");
      expect(notified.map((n) => n.count).sort()).toEqual([334, 666]);
      const named = (notified.find((n) => n.count === 334)?.agents ?? []) as string[];
      expect(named).toHaveLength(334);
      expect(named.slice(0, 2)).toEqual(["bot-0000", "bot-0003"]);
      // All recover: after errorRate.resolveForMs (2 min) they resolve, in one post.
      for (let i = 0; i < 16; i++) await round(() => false);
      expect(e.firing()).toHaveLength(0);
      expect(t.mattermost.posts.map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P1 llm_error_rate on 334 agents**",
        "**:rotating_light: FIRING P1 llm_error_rate on 666 agents**",
        "**:white_check_mark: RESOLVED P1 llm_error_rate on 1000 agents**",
      ]);
    } finally {
      await t.close();
    }
  });
});

describe.skipIf(!pg)("alert state in the store", () => {
  it("a new engine on the state of the last: no second post of what fires, one resolve of what ended", async () => {
    const t = await setup();
    try {
      await t.beat("gw-a", "unhealthy");
      await t.beat("gw-b", "unhealthy");
      await t.tick(t.engine());
      expect(t.mattermost.posts.map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P0 gateway_down on 2 agents**",
      ]);
      // A restart: a new engine (its fleet as a restarted collector's would be, once heard from).
      t.clock.now += 5000;
      const restarted = t.engine();
      await t.tick(restarted);
      expect(restarted.firing().map((a) => a.agent)).toEqual(["gw-a", "gw-b"]);
      await t.beat("gw-b", "healthy");
      t.clock.now += 10_000;
      await t.tick(restarted);
      await t.tick(restarted);
      expect(t.mattermost.posts.map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P0 gateway_down on 2 agents**",
        "**:white_check_mark: RESOLVED P0 gateway_down on gw-b**",
      ]);
      expect(restarted.firing().map((a) => a.agent)).toEqual(["gw-a"]);
    } finally {
      await t.close();
    }
  });

  it("a replica whose lease was taken over writes nothing and forgets its state", async () => {
    const t = await setup();
    try {
      const fence = new DbFenceStore(t.db, ALERTS_FENCE);
      const old = t.engine({}, localLease(fence));
      await t.beat("gw-a", "unhealthy");
      await t.tick(old);
      expect(old.firing()).toHaveLength(1);
      // Another replica takes over (a newer token granted) and finds the alert firing.
      const leader = t.engine({}, localLease(fence));
      await t.tick(leader);
      expect(leader.firing()).toHaveLength(1);
      // The old one, paused meanwhile, evaluates a change: fenced off at its write, it forgets.
      await t.beat("gw-a", "healthy");
      t.clock.now += 10_000;
      await t.tick(old);
      const posts = t.mattermost.posts.length;
      // From then on it follows: it sends nothing, and lists what the leader wrote.
      await t.tick(old);
      t.clock.now += 10_000;
      await t.tick(old);
      expect(t.mattermost.posts).toHaveLength(posts);
      expect(old.firing().map((a) => a.key)).toEqual(["gateway_down:gw-a"]);
      const rows = await t.db.query<{ key: string }>("SELECT key FROM alert_state WHERE key LIKE 'alert:%'");
      expect(rows.rows.map((r) => r.key)).toEqual(["alert:gateway_down:gw-a"]);
    } finally {
      await t.close();
    }
  });
});
