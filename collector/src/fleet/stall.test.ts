import { silentLogger } from "@clawguard/shared/log";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../store/db.ts";
import { IncidentStore } from "../store/incident-store.ts";
import type { Heartbeat } from "../store/liveness/index.ts";
import { MemoryLiveness } from "../store/liveness/memory.ts";
import { migrate } from "../store/migrations.ts";
import { backends } from "../store/test-backends.ts";
import { Fleet } from "./index.ts";

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

function hb(agent: string, at: number): Heartbeat {
  return {
    agent,
    role: "gateway",
    host: "h1",
    state: "healthy",
    reasons: [],
    probes: [],
    versions: {},
    configFingerprint: "a".repeat(64),
    intervalMs: 1000,
    time: new Date(at).toISOString(),
  };
}

describe("fleet after a stall of the collector's own (SIGSTOP): embedded store", () => {
  const backend = backends[0] as (typeof backends)[number];
  let db: Db;
  let done: () => Promise<void>;
  beforeAll(async () => {
    ({ db, done } = await backend.open());
    await migrate(db);
  }, 60_000);
  afterAll(async () => {
    await db.close();
    await done();
  });

  it("judges no agent stale across its own pause; after one window of heartbeats, only the silent one", async () => {
    let now = T0;
    const fleet = new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: new IncidentStore(db),
      staleFactor: 3,
      stallAfterMs: 5000,
      log: silentLogger,
      now: () => now,
    });
    // Two gateways heartbeat every second; the sweep runs every second.
    for (let s = 0; s <= 10; s++) {
      now = T0 + s * 1000;
      await fleet.heartbeat(hb("live", now));
      await fleet.heartbeat(hb("gone", now));
      expect(await fleet.sweep()).toBe(0);
    }
    // SIGSTOP for 18 s. Meanwhile "gone" really went; "live" kept sending (nobody received).
    now = T0 + 28_000;
    expect(await fleet.sweep()).toBe(0);
    expect(fleet.stalled()).toBe(true);
    const held = await fleet.view();
    expect(held.agents.map((a) => [a.agent, a.stale])).toEqual([
      ["gone", false],
      ["live", false],
    ]);
    // "live" is heard again; the hold lasts one window (3 × 1000 ms) from the resume.
    for (const at of [28_300, 29_300, 30_300, 30_900]) {
      now = T0 + at;
      await fleet.heartbeat(hb("live", now));
      expect(await fleet.sweep()).toBe(0);
    }
    now = T0 + 31_100;
    await fleet.heartbeat(hb("live", now));
    expect(fleet.stalled()).toBe(false);
    expect(await fleet.sweep()).toBe(1);
    const after = await fleet.view();
    expect(after.agents.map((a) => [a.agent, a.stale])).toEqual([
      ["gone", true],
      ["live", false],
    ]);
    // No incident of "live" was opened by the pause.
    expect((await fleet.incidents.list({ agent: "live", open: true, limit: 10 })).incidents).toHaveLength(0);
  });
});
