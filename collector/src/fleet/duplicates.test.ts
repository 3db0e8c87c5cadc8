import { silentLogger } from "@clawguard/shared/log";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../store/db.ts";
import { IncidentStore } from "../store/incident-store.ts";
import type { Heartbeat, Instance } from "../store/liveness/index.ts";
import { MemoryLiveness } from "../store/liveness/memory.ts";
import { migrate } from "../store/migrations.ts";
import { backends } from "../store/test-backends.ts";
import { DUPLICATE_NAME, duplicates, withDuplicates } from "./duplicates.ts";
import { Fleet } from "./index.ts";

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

function hb(over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    agent: "main",
    role: "gateway",
    host: "h1",
    state: "healthy",
    reasons: [],
    probes: [],
    versions: {},
    configFingerprint: "a".repeat(64),
    intervalMs: 10_000,
    time: iso(T0),
    ...over,
  };
}

function instance(id: string, first: number, last: number, over: Partial<Instance> = {}): Instance {
  return {
    instance: id,
    host: `host-${id}`,
    state: "healthy",
    reasons: [],
    intervalMs: 10_000,
    firstSeen: iso(first),
    lastSeen: iso(last),
    ...over,
  };
}

describe("withDuplicates", () => {
  it("one instance, or one replaced by another (silent since the new one's first heartbeat): the heartbeat as it is", () => {
    const beat = hb({ instance: "a" });
    expect(withDuplicates(beat, [instance("a", T0, T0 + 50_000)])).toBe(beat);
    const replaced = [instance("old", T0, T0 + 10_000), instance("new", T0 + 15_000, T0 + 25_000)];
    expect(duplicates(replaced)).toEqual([]);
    expect(withDuplicates(hb({ instance: "new" }), replaced)).toEqual(hb({ instance: "new" }));
  });

  it("two running at once: degraded with a duplicate_name reason naming both, both listed; the same whichever heartbeat it is", () => {
    const live = [instance("b2", T0 + 5_000, T0 + 25_000), instance("a1", T0, T0 + 20_000)];
    const fromA = withDuplicates(hb({ instance: "a1", host: "host-a1" }), live);
    const fromB = withDuplicates(hb({ instance: "b2", host: "host-b2" }), live);
    expect(fromA.state).toBe("degraded");
    expect(fromA.reasons).toEqual([
      `${DUPLICATE_NAME}: 2 sidecars run as agent "main" (instances a1 on host-a1, b2 on host-b2): their heartbeats and audit chains mix; give each its own agent name`,
    ]);
    expect(fromA.instances?.map((i) => i.instance)).toEqual(["a1", "b2"]);
    // What liveness compares (state and reasons) does not alternate with the sender: no flap.
    expect([fromB.state, fromB.reasons]).toEqual([fromA.state, fromA.reasons]);
  });

  it("as bad as the worst instance, whose reasons follow, named by instance", () => {
    const live = [
      instance("a1", T0, T0 + 20_000),
      instance("b2", T0, T0 + 20_000, { state: "unhealthy", reasons: ["probe chat: HTTP 502"] }),
    ];
    const recorded = withDuplicates(hb({ instance: "a1" }), live);
    expect(recorded.state).toBe("unhealthy");
    expect(recorded.reasons.slice(1)).toEqual(["instance b2: probe chat: HTTP 502"]);
  });
});

describe("fleet with two sidecars under one name (in-process liveness, embedded store)", () => {
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

  it("alternating heartbeats open one incident naming both, kept open, and resolved once one is gone", async () => {
    let now = T0;
    const fleet = new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: new IncidentStore(db),
      staleFactor: 3,
      log: silentLogger,
      now: () => now,
    });
    // A healthy and B unhealthy: without instances each heartbeat replaced the other's state.
    const a = hb({ instance: "a1", host: "host-a" });
    const b = hb({ instance: "b2", host: "host-b", state: "unhealthy", reasons: ["probe chat: HTTP 502"] });
    await fleet.heartbeat(a);
    for (let i = 1; i <= 10; i++) {
      now = T0 + i * 5_000;
      await fleet.heartbeat(i % 2 === 1 ? b : a);
    }
    const view = await fleet.view();
    const main = view.agents.find((x) => x.agent === "main");
    expect(main?.state).toBe("unhealthy");
    expect(main?.reasons[0]).toMatch(
      /^duplicate_name: 2 sidecars run as agent "main" \(instances a1 on host-a, b2 on host-b\)/,
    );
    expect(main?.instances?.map((i) => [i.instance, i.host, i.state])).toEqual([
      ["a1", "host-a", "healthy"],
      ["b2", "host-b", "unhealthy"],
    ]);
    const open = (await fleet.incidents.list({ agent: "main", open: true, limit: 10 })).incidents;
    expect(open).toHaveLength(1);
    // Opened by B's first heartbeat (A had not spoken since: no duplicate yet), then the duplicate
    // once (the same state: one entry standing for both reports), never again in ten heartbeats.
    expect(open[0]?.timeline.map((e) => [e.kind, e.toState, e.repeats ?? 1])).toEqual([
      ["opened", "unhealthy", 2],
    ]);
    expect(open[0]?.reasons[0]).toContain(DUPLICATE_NAME);

    // B stops: once it is stale (3 x 10 s), A's heartbeats are A's again, and the incident resolves.
    for (let i = 11; i <= 20; i++) {
      now = T0 + i * 5_000;
      await fleet.heartbeat(a);
    }
    expect((await fleet.incidents.list({ agent: "main", open: true, limit: 10 })).incidents).toHaveLength(0);
    expect((await fleet.view()).agents.find((x) => x.agent === "main")?.instances).toBeUndefined();
  });

  it("sidecars with no probes (unknown): the duplicate's incident resolves once one is gone, back to unknown", async () => {
    let now = T0 + 1_000_000;
    const fleet = new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: new IncidentStore(db),
      staleFactor: 3,
      log: silentLogger,
      now: () => now,
    });
    const a = hb({ agent: "noprobes", instance: "a1", host: "host-a", state: "unknown" });
    const b = hb({ agent: "noprobes", instance: "b2", host: "host-b", state: "unknown" });
    await fleet.heartbeat(a);
    for (let i = 1; i <= 4; i++) {
      now += 5_000;
      await fleet.heartbeat(i % 2 === 1 ? b : a);
    }
    const open = () => fleet.incidents.list({ agent: "noprobes", open: true, limit: 10 });
    expect((await open()).incidents.map((x) => x.state)).toEqual(["degraded"]);
    // B stops; A goes on, unknown as it always was: the duplicate is over, and so is its incident.
    for (let i = 0; i < 10; i++) {
      now += 5_000;
      await fleet.heartbeat(a);
    }
    expect((await open()).incidents).toHaveLength(0);
    const all = (await fleet.incidents.list({ agent: "noprobes", limit: 10 })).incidents;
    expect(all[0]?.timeline.map((e) => [e.kind, e.fromState, e.toState])).toEqual([
      ["opened", "unknown", "degraded"],
      ["resolved", "degraded", "unknown"],
    ]);
  });
});
