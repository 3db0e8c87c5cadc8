import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALERTS_FENCE, DbAlertStateStore, memoryAlertStateStore } from "./alert-state-store.ts";
import type { Db } from "./db.ts";
import { DbFenceStore } from "./fence-store.ts";
import { migrate } from "./migrations.ts";
import { storeBackends } from "./test-backends.ts";

/** One contract on the embedded default (PGlite), real PostgreSQL, and PostgreSQL through PgBouncer. */
describe.each(storeBackends)("alert state store on $name", ({ skip, open }) => {
  let db: Db;
  let replica: () => Db;
  let done: () => Promise<void>;

  beforeAll(async () => {
    if (skip) return;
    ({ db, replica, done } = await open());
    await migrate(db);
  });
  afterAll(async () => {
    if (skip) return;
    await db.close();
    await done();
  });

  it.skipIf(skip)("keeps what was set, forgets what was deleted, across connections", async () => {
    const store = new DbAlertStateStore(db);
    expect(await store.load()).toEqual(new Map());
    const firing = { since: 1000, firing: true, firedAt: 1000, notifiedAt: 1000, agent: "a\u202eb 'x\"" };
    const set = new Map<string, unknown>([
      ["alert:agent_down:a", firing],
      ["alert:agent_down:b", { since: 2000, firing: false }],
      ["group:agent_down", { sentAt: 1000, pending: [] }],
    ]);
    expect(await store.save(set, [], 0)).toBe(true);
    expect(await store.save(new Map([["alert:agent_down:b", { since: 2500, firing: true }]]), [], 0)).toBe(
      true,
    );
    expect(await store.save(new Map(), ["group:agent_down", "never:there"], 0)).toBe(true);
    const other = new DbAlertStateStore(replica());
    expect(await other.load()).toEqual(
      new Map<string, unknown>([
        ["alert:agent_down:a", firing],
        ["alert:agent_down:b", { since: 2500, firing: true }],
      ]),
    );
  });

  it.skipIf(skip)("refuses a write under a token older than the granted one, whole", async () => {
    const store = new DbAlertStateStore(db);
    const fence = new DbFenceStore(db, ALERTS_FENCE);
    const old = await fence.draw();
    expect(await fence.grant(old)).toBe(true);
    expect(await store.save(new Map([["alert:x:1", { v: 1 }]]), [], old)).toBe(true);
    const newer = await fence.draw();
    expect(await fence.grant(newer)).toBe(true);
    // The old leader, woken up: neither its set nor its delete is applied.
    expect(await store.save(new Map([["alert:x:1", { v: 2 }]]), ["alert:agent_down:a"], old)).toBe(false);
    const loaded = await store.load();
    expect(loaded.get("alert:x:1")).toEqual({ v: 1 });
    expect(loaded.has("alert:agent_down:a")).toBe(true);
    expect(await store.save(new Map([["alert:x:1", { v: 3 }]]), [], newer)).toBe(true);
    expect((await store.load()).get("alert:x:1")).toEqual({ v: 3 });
    // The controller's fence is another row: its tokens do not fence the alerts.
    const controller = new DbFenceStore(db);
    expect(await controller.grant(await controller.draw())).toBe(true);
    expect(await store.save(new Map([["alert:x:1", { v: 4 }]]), [], newer)).toBe(true);
  });

  it.skipIf(skip)("writes a thousand alerts in one save", async () => {
    const store = new DbAlertStateStore(db);
    const many = new Map(Array.from({ length: 1000 }, (_, i) => [`alert:bulk:${i}`, { i }] as const));
    expect(await store.save(many, [], Number.MAX_SAFE_INTEGER)).toBe(true);
    const loaded = await store.load();
    expect([...loaded.keys()].filter((k) => k.startsWith("alert:bulk:"))).toHaveLength(1000);
    expect(loaded.get("alert:bulk:999")).toEqual({ i: 999 });
  });
});

describe("in-process alert state store", () => {
  it("keeps what was set and forgets what was deleted", async () => {
    const store = memoryAlertStateStore();
    await store.save(
      new Map([
        ["a", { x: 1 }],
        ["b", { y: 2 }],
      ]),
      [],
      0,
    );
    await store.save(new Map(), ["a"], 0);
    expect(await store.load()).toEqual(new Map([["b", { y: 2 }]]));
  });
});
