import { alertsConfig } from "@clawguard/collector/alerts/config";
import { AlertEngine } from "@clawguard/collector/alerts/index";
import { Fleet } from "@clawguard/collector/fleet/index";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
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
 * The alerting through what goes wrong around it (attack findings, issue 16): a silence that ends
 * while the alert fires, an audit store that does not take records, a store that does not answer
 * at all, a sidecar restart resetting its counters, an error rate that dips once. Real PostgreSQL (a table renamed away is the outage), a real HTTP stand-in for Mattermost.
 */

const pg = await postgresAvailable();

async function setup(config: Record<string, unknown> = {}) {
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
  const engine = new AlertEngine({
    config: alertsConfig.parse(config),
    targets: [{ kind: "mattermost", name: "mattermost", url: mattermost.url }],
    fleet,
    store,
    log: silentLogger,
    delivery: { attempts: 1, backoffMs: 10 },
    now: () => clock.now,
  });
  /** A bot whose LLM counters (since its sidecar started) are `calls` calls, `failed` of them 5xx. */
  const bot = (calls: number, failed: number) =>
    fleet.heartbeat({
      agent: "bot",
      role: "bot",
      host: "h",
      state: "healthy",
      reasons: [],
      probes: [],
      versions: {},
      configFingerprint: "c".repeat(64),
      intervalMs: 60_000,
      time: new Date().toISOString(),
      stats: llmStats(calls, failed),
    });
  const gateway = (state: "healthy" | "unhealthy") =>
    fleet.heartbeat({
      agent: "gw",
      role: "gateway",
      host: "h",
      state,
      reasons: state === "healthy" ? [] : ["gateway: connection refused"],
      probes: [{ name: "gateway", state: state === "healthy" ? "passing" : "failing" }],
      versions: {},
      configFingerprint: "c".repeat(64),
      intervalMs: 60_000,
      time: new Date().toISOString(),
    });
  const tick = async () => {
    await engine.evaluate();
    await engine.drain();
  };
  const texts = () => mattermost.posts.map((p) => p.text);
  const types = async () => (await store.query({ limit: 50 })).events.map((e) => e.type).sort();
  const close = async () => {
    await mattermost.close();
    await db.close();
    await test.drop();
  };
  return { db, engine, clock, gateway, bot, tick, texts, types, close };
}

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

const ERROR_RATE = "**:rotating_light: FIRING P1 llm_error_rate on bot**";
const ERROR_RATE_RESOLVED = "**:white_check_mark: RESOLVED P1 llm_error_rate on bot**";

const FIRING = "**:rotating_light: FIRING P0 gateway_down on gw**";

describe.skipIf(!pg)("alerting through outages", () => {
  it("posts an alert still firing at the first evaluation after its silence ends", async () => {
    const until = new Date(Date.now() + 600_000).toISOString();
    const t = await setup({ silences: [{ alert: "gateway_down", until }] });
    try {
      await t.gateway("unhealthy");
      await t.tick();
      await t.tick();
      expect(t.texts()).toEqual([]); // silenced: recorded only
      t.clock.now += 601_000; // the silence is over, repeatMs (4 h) is not
      await t.tick();
      expect(t.texts()).toEqual([FIRING]);
      await t.tick();
      expect(t.texts()).toEqual([FIRING]); // then every repeatMs as usual
    } finally {
      await t.close();
    }
  });

  it("delivers firing and resolved notices while the audit store refuses them, and records them once it is back", async () => {
    const t = await setup();
    try {
      await t.db.query("ALTER TABLE audit_events RENAME TO audit_events_away");
      await t.gateway("unhealthy");
      await t.tick();
      expect(t.texts()).toEqual([FIRING]);
      await t.gateway("healthy");
      t.clock.now += 10_000; // a P0 group posts at most every alerts.group.intervalMs.P0 (10 s)
      await t.tick();
      expect(t.texts()).toEqual([FIRING, "**:white_check_mark: RESOLVED P0 gateway_down on gw**"]);
      expect(t.engine.unrecorded).toBe(4); // firing, its delivery, resolved, its delivery
      await t.db.query("ALTER TABLE audit_events_away RENAME TO audit_events");
      await t.tick();
      expect(t.engine.unrecorded).toBe(0);
      expect(await t.types()).toEqual(["alert.firing", "alert.notified", "alert.notified", "alert.resolved"]);
    } finally {
      await t.close();
    }
  });

  it("pages a gateway down while the store does not answer at all", async () => {
    const t = await setup();
    try {
      await t.db.query("ALTER TABLE incident_events RENAME TO incident_events_away");
      await t.db.query("ALTER TABLE audit_events RENAME TO audit_events_away");
      // The heartbeat's state is kept in liveness (memory/Redis) before its incident is written,
      // which fails here.
      await expect(t.gateway("unhealthy")).rejects.toThrow(/incident_events/);
      await t.tick();
      expect(t.texts()).toEqual([FIRING]);
      expect(t.engine.firing().map((a) => a.alert)).toEqual(["gateway_down"]);
    } finally {
      await t.close();
    }
  });
});

describe.skipIf(!pg)("error-rate alert across a sidecar restart and a dip", () => {
  it("keeps firing when the sidecar restarts (its counters back at zero) while calls still fail", async () => {
    const t = await setup({ errorRate: { windowMs: 60_000, minCalls: 20 } });
    try {
      await t.bot(100, 0);
      await t.tick();
      t.clock.now += 10_000;
      await t.bot(200, 50); // 50 of 100 failed
      await t.tick();
      expect(t.texts()).toEqual([ERROR_RATE]);
      // The sidecar restarts: its counters start again from zero, and its calls still fail.
      t.clock.now += 10_000;
      await t.bot(10, 5);
      await t.tick();
      t.clock.now += 10_000;
      await t.bot(40, 20);
      await t.tick();
      expect(t.engine.firing().map((a) => a.alert)).toEqual(["llm_error_rate"]);
      expect(t.texts()).toEqual([ERROR_RATE]); // no resolve in between
    } finally {
      await t.close();
    }
  });

  it("resolves only once the rate has stayed under the threshold for errorRate.resolveForMs", async () => {
    const t = await setup({ errorRate: { windowMs: 10_000, minCalls: 20, resolveForMs: 30_000 } });
    try {
      let calls = 100;
      let failed = 0;
      const step = async (n: number, bad: number) => {
        calls += n;
        failed += bad;
        t.clock.now += 10_000;
        await t.bot(calls, failed);
        await t.tick();
      };
      await t.bot(calls, failed);
      await t.tick();
      await step(100, 50); // 50 %: fires
      expect(t.texts()).toEqual([ERROR_RATE]);
      await step(100, 0); // one window at 0 %
      await step(100, 40); // 40 % again
      expect(t.texts()).toEqual([ERROR_RATE]); // no resolve and re-fire on the dip
      await step(100, 0);
      await step(100, 0);
      await step(100, 0);
      expect(t.texts()).toEqual([ERROR_RATE]); // 20 s under: still firing
      await step(100, 0);
      expect(t.texts()).toEqual([ERROR_RATE, ERROR_RATE_RESOLVED]); // 30 s under: resolved
    } finally {
      await t.close();
    }
  });
});
