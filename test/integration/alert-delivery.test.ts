import { createServer } from "node:http";
import { alertsConfig } from "@clawguard/collector/alerts/config";
import { AlertEngine, redisClaims } from "@clawguard/collector/alerts/index";
import { Fleet } from "@clawguard/collector/fleet/index";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
import { IncidentStore } from "@clawguard/collector/store/incident-store";
import { MemoryLiveness } from "@clawguard/collector/store/liveness/memory";
import { deleteKeys, redisAvailable, TEST_REDIS } from "@clawguard/collector/store/liveness/test-backends";
import { migrate } from "@clawguard/collector/store/migrations";
import { createPgDb } from "@clawguard/collector/store/pg/index";
import { silentLogger } from "@clawguard/shared/log";
import { createTestDatabase, postgresAvailable } from "@clawguard/shared/testing";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { eventually, mattermostStandIn } from "../support/monitoring.ts";

/**
 * The collector's alert deliveries against real HTTP endpoints and a real store: a Mattermost
 * answering 503 is retried with backoff and the failure recorded; a silenced alert is recorded
 * but not sent.
 */

const pg = await postgresAvailable();

describe.skipIf(!pg)("alert delivery", () => {
  it("retries a failing webhook, records every outcome, and sends nothing for a silenced alert", async () => {
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
    let refused = 0;
    let up = false;
    const accepted: string[] = [];
    const failing = createServer((req, res) => {
      if (up) {
        let body = "";
        req.on("data", (c: Buffer) => (body += c));
        req.on("end", () => {
          accepted.push(body);
          res.writeHead(200).end("ok");
        });
        return;
      }
      refused++;
      res.writeHead(503).end("down for maintenance");
    });
    let clock = Date.now();
    await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
    const mattermost = await mattermostStandIn();
    const config = alertsConfig.parse({
      silences: [
        { alert: "gateway_down", agent: "quiet", until: new Date(Date.now() + 3_600_000).toISOString() },
      ],
    });
    const engine = new AlertEngine({
      config,
      targets: [
        { kind: "mattermost", name: "mattermost ok", url: mattermost.url },
        {
          kind: "webhook",
          name: "webhook down",
          url: `http://127.0.0.1:${(failing.address() as { port: number }).port}/hook`,
        },
      ],
      fleet,
      store,
      log: silentLogger,
      delivery: { attempts: 3, backoffMs: 50 },
      now: () => clock,
    });
    try {
      for (const agent of ["loud", "quiet"])
        await fleet.heartbeat({
          agent,
          role: "gateway",
          host: "h",
          state: "unhealthy",
          reasons: ["gateway: connection refused"],
          probes: [{ name: "gateway", state: "failing" }],
          versions: {},
          configFingerprint: "c".repeat(64),
          intervalMs: 60_000,
          time: new Date().toISOString(),
        });
      await engine.evaluate();
      await engine.drain();
      expect(engine.firing().map((a) => a.agent)).toEqual(["loud", "quiet"]);
      // Sent for "loud" only; the failing webhook tried 3 times.
      expect(mattermost.posts.map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P0 gateway_down on loud**",
      ]);
      expect(refused).toBe(3);
      const events = async (type: string) =>
        (await store.query({ type, limit: 50 })).events.map((e) => e.attrs as Record<string, unknown>);
      const notified = await eventually("deliveries recorded", async () => {
        const n = await events("alert.notified");
        return n.length === 2 ? n : undefined;
      });
      expect(notified).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ agent: "loud", target: "mattermost ok", ok: true, attempts: 1 }),
          expect.objectContaining({
            agent: "loud",
            target: "webhook down",
            ok: false,
            attempts: 3,
            error: "HTTP 503: down for maintenance",
          }),
        ]),
      );
      const quiet = (await events("alert.firing")).find((a) => a.agent === "quiet");
      expect(quiet?.silenced).toMatchObject({ reason: null });

      // The controller switched a route: a P1 failover alert, from the incident timeline.
      await fleet.incidents.note("loud", {
        action: "route-switched",
        detail: "clients now reach loud-standby",
        token: 7,
        at: new Date().toISOString(),
      });
      await engine.evaluate();
      await engine.drain();
      expect(mattermost.posts.map((p) => p.text)).toContain(
        "**:rotating_light: FIRING P1 failover on loud**",
      );

      // The webhook back: what it did not take is sent again at a later evaluation, and recorded.
      up = true;
      clock += 31_000;
      await engine.evaluate();
      await engine.drain();
      expect(accepted.some((b) => b.includes('"gateway_down"') && b.includes('"loud"'))).toBe(true);
      const again = await eventually("a redelivery recorded", async () =>
        (await events("alert.notified")).find((n) => n.redelivery === 1 && n.ok === true),
      );
      expect(again).toMatchObject({ alert: "gateway_down", agent: "loud", target: "webhook down" });
    } finally {
      failing.close();
      await mattermost.close();
      await db.close();
      await test.drop();
    }
  });
});

/** A hook that reads the whole notice, keeps it, and answers only after `delayMs`. */
async function slowHook(delayMs: number) {
  const received: { body: string; key: string | undefined }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      received.push({ body, key: req.headers["idempotency-key"] as string | undefined });
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(200).end("ok");
      }, delayMs).unref();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe.skipIf(!pg)("alert delivery to a slow target", () => {
  it("a Mattermost answering after the timeout gets each notice once; a webhook gets it again under the same id", async () => {
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
    const mattermost = await slowHook(1500);
    const webhook = await slowHook(1500);
    let clock = Date.now();
    const engine = new AlertEngine({
      config: alertsConfig.parse({}),
      targets: [
        { kind: "mattermost", name: "mattermost slow", url: mattermost.url("/hooks/k") },
        { kind: "webhook", name: "webhook slow", url: webhook.url("/hook") },
      ],
      fleet,
      store,
      log: silentLogger,
      delivery: { attempts: 3, backoffMs: 20, answerTimeoutMs: 200 },
      now: () => clock,
    });
    try {
      await fleet.heartbeat({
        agent: "gw",
        role: "gateway",
        host: "h",
        state: "unhealthy",
        reasons: ["gateway: connection refused"],
        probes: [],
        versions: {},
        configFingerprint: "c".repeat(64),
        intervalMs: 60_000,
        time: new Date().toISOString(),
      });
      await engine.evaluate();
      await engine.drain();
      // Later evaluations, past the redelivery backoff: nothing more for Mattermost.
      for (let i = 0; i < 3; i++) {
        clock += 61_000;
        await engine.evaluate();
        await engine.drain();
      }
      expect(mattermost.received).toHaveLength(1);
      expect(JSON.parse(mattermost.received[0]?.body ?? "{}").text).toBe(
        "**:rotating_light: FIRING P0 gateway_down on gw**",
      );
      // The webhook: tried again, every try the same notice (its id in the body and the header).
      expect(webhook.received.length).toBeGreaterThan(1);
      const ids = new Set(webhook.received.map((r) => (JSON.parse(r.body) as { id: string }).id));
      expect(ids.size).toBe(1);
      expect(webhook.received.every((r) => r.key === [...ids][0])).toBe(true);
      const notified = (await store.query({ type: "alert.notified", limit: 50 })).events.map(
        (e) => e.attrs as Record<string, unknown>,
      );
      expect(notified.filter((n) => n.target === "mattermost slow")).toEqual([
        expect.objectContaining({ ok: false, unknown: true, attempts: 1 }),
      ]);
      expect(String(notified.find((n) => n.target === "mattermost slow")?.error)).toMatch(
        /^sent, no answer within 200 ms .*: it may not have been delivered$/,
      );
    } finally {
      mattermost.close();
      webhook.close();
      await db.close();
      await test.drop();
    }
  });
});

describe.skipIf(!pg || !(await redisAvailable()))("alerts from several replicas", () => {
  it("sends each notification once, whichever replica evaluates first (claims in Redis)", async () => {
    const test = await createTestDatabase();
    const db = createPgDb(test.url, silentLogger);
    await migrate(db);
    const redis = new Redis(TEST_REDIS, { maxRetriesPerRequest: 1 });
    const prefix = `clawguard-test-${process.pid}-${Date.now()}:`;
    const mattermost = await mattermostStandIn();
    // One fleet (the replicas share liveness), two engines.
    const fleet = new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: new IncidentStore(db),
      staleFactor: 3,
      log: silentLogger,
    });
    let clock = Date.now();
    const replica = () =>
      new AlertEngine({
        config: alertsConfig.parse({}),
        now: () => clock,
        targets: [{ kind: "mattermost", name: "mattermost", url: mattermost.url }],
        fleet,
        store: new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "h" }),
        claims: redisClaims(redis, prefix),
        log: silentLogger,
      });
    const [a, b] = [replica(), replica()];
    const beat = (state: "healthy" | "unhealthy") =>
      fleet.heartbeat({
        agent: "gw",
        role: "gateway",
        host: "h",
        state,
        reasons: state === "healthy" ? [] : ["gateway: connection refused"],
        probes: [],
        versions: {},
        configFingerprint: "c".repeat(64),
        intervalMs: 60_000,
        time: new Date().toISOString(),
      });
    try {
      await beat("unhealthy");
      await Promise.all([a.evaluate(), b.evaluate()]);
      await Promise.all([a.drain(), b.drain()]);
      await beat("healthy");
      clock += 10_000; // a P0 rule posts at most once an alerts.group.intervalMs.P0 (10 s)
      await Promise.all([a.evaluate(), b.evaluate()]);
      await Promise.all([a.drain(), b.drain()]);
      // And it can fire again at once (once the group's interval has passed).
      await beat("unhealthy");
      clock += 10_000;
      await Promise.all([b.evaluate(), a.evaluate()]);
      await Promise.all([a.drain(), b.drain()]);
      expect(mattermost.posts.map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P0 gateway_down on gw**",
        "**:white_check_mark: RESOLVED P0 gateway_down on gw**",
        "**:rotating_light: FIRING P0 gateway_down on gw**",
      ]);
      const firing = (
        await new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "h" }).query({
          type: "alert.firing",
          limit: 10,
        })
      ).events;
      expect(firing).toHaveLength(2);
    } finally {
      redis.disconnect();
      await deleteKeys(prefix);
      await mattermost.close();
      await db.close();
      await test.drop();
    }
  });
});
