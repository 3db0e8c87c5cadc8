import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DbFenceStore, type FenceStore, memoryFenceStore } from "../store/fence-store.ts";
import { deleteKeys, redisAvailable, TEST_REDIS } from "../store/liveness/test-backends.ts";
import { migrate } from "../store/migrations.ts";
import { backends } from "../store/test-backends.ts";
import { type Lease, localLease, redisLease, redisRouteMirror } from "./lease.ts";
import { getRoute, mirrorRoute, setRoute } from "./routes.ts";

let redis: Redis | undefined;
const prefixes: string[] = [];
const newPrefix = () => {
  const prefix = `clawguard-test-${randomBytes(4).toString("hex")}:`;
  prefixes.push(prefix);
  return prefix;
};

beforeAll(async () => {
  if (await redisAvailable()) redis = new Redis(TEST_REDIS, { lazyConnect: false, maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(prefix);
  redis?.disconnect();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!(await redisAvailable())).each(backends.filter((b) => !b.skip))(
  "Redis lease with durable fencing tokens ($name)",
  (backend) => {
    let fence: FenceStore;
    let done: () => Promise<void>;
    beforeAll(async () => {
      const opened = await backend.open();
      await migrate(opened.db);
      fence = new DbFenceStore(opened.db);
      done = async () => {
        await opened.db.close();
        await opened.done();
      };
    });
    afterAll(() => done());

    const lease = (prefix: string, holder: string, ttlMs = 300): Lease =>
      redisLease(redis as Redis, fence, { prefix, holder, ttlMs });

    it("one holder at a time; a paused leader's writes are refused once another took over", async () => {
      const prefix = newPrefix();
      const a = lease(prefix, "replica-a");
      const b = lease(prefix, "replica-b");
      const first = await a.acquire();
      expect(first).toBeGreaterThan(0);
      expect(await b.acquire()).toBeUndefined();
      expect(await a.acquire()).toBe(first); // renewal keeps the token
      expect(await a.fencedSet("route:gw", "primary", first as number)).toBe(true);

      // A stops renewing (paused: GC, SIGSTOP, partition); after the TTL B takes over.
      await sleep(400);
      const second = await b.acquire();
      expect(second).toBeGreaterThan(first as number);
      expect(await a.fencedSet("route:gw", "standby-by-a", first as number)).toBe(false);
      expect(await b.fencedSet("route:gw", "standby", second as number)).toBe(true);
      expect(await a.acquire()).toBeUndefined();
      expect(await b.fencedGet("route:gw")).toEqual({ value: "standby", token: second });

      await b.release();
      const third = await a.acquire();
      expect(third).toBeGreaterThan(second as number);
      await a.release();
    });

    it("Redis losing its data never hands out an old token again, nor lets an old one write", async () => {
      const prefix = newPrefix();
      const a = lease(prefix, "replica-a", 10_000);
      const b = lease(prefix, "replica-b", 10_000);
      const old = (await a.acquire()) as number;
      expect(await setRoute(a, redis, prefix, { group: "gw", target: "http://primary", token: old })).toBe(
        true,
      );
      // Redis restarts empty (no persistence), fails over to a replica that never saw the lease, or
      // evicts the keys: the lease and the route's copy are gone.
      const lost = await deleteKeys(prefix);
      expect(lost).toBeGreaterThanOrEqual(2);
      const newer = (await b.acquire()) as number;
      expect(newer).toBeGreaterThan(old); // the counter in Redis started again at 1 before

      // A, which still thinks it leads under `old`, wakes up and repoints: refused by the durable store.
      expect(await setRoute(a, redis, prefix, { group: "gw", target: "http://dead", token: old })).toBe(
        false,
      );
      expect(await a.acquire()).toBeUndefined();
      expect(await setRoute(b, redis, prefix, { group: "gw", target: "http://standby", token: newer })).toBe(
        true,
      );
      expect(await getRoute(b, "gw")).toEqual({ group: "gw", target: "http://standby", token: newer });
      expect(await getRoute(redisRouteMirror(redis as Redis, prefix), "gw")).toEqual({
        group: "gw",
        target: "http://standby",
        token: newer,
      });

      // Redis comes back from an old snapshot: A's lease key is there again. A renews it, finds a
      // newer token granted, lets it go: it never acts under `old`.
      await (redis as Redis).set(`${prefix}{control}:lease`, `replica-a|${old}`, "PX", 10_000);
      await (redis as Redis).hset(
        `${prefix}{control}:fenced:route:gw`,
        "value",
        '{"target":"http://primary"}',
        "token",
        old,
      );
      expect(await a.acquire()).toBeUndefined();
      expect(await (redis as Redis).get(`${prefix}{control}:lease`)).toBeNull();
      // The copy is brought back in step by the leader (every tick); an older copy never wins.
      const route = (await getRoute(b, "gw")) as { group: string; target: string; token: number };
      expect(await mirrorRoute(redis, prefix, route, b)).toEqual({ outcome: "copied" });
      expect(await mirrorRoute(redis, prefix, { ...route, target: "http://dead", token: old }, b)).toEqual({
        outcome: "same",
      });
      expect((await getRoute(redisRouteMirror(redis as Redis, prefix), "gw"))?.target).toBe("http://standby");
    });

    it("the leader whose key Redis lost takes it back under the same token when nobody else did", async () => {
      const prefix = newPrefix();
      const a = lease(prefix, "replica-a", 10_000);
      const b = lease(prefix, "replica-b", 10_000);
      const token = (await a.acquire()) as number;
      await deleteKeys(prefix);
      expect(await a.acquire()).toBe(token); // its step under way is not fenced off by itself
      expect(await a.fencedSet("group:gw", "x", token)).toBe(true);
      expect(await b.acquire()).toBeUndefined();
      // Once another took over, the old token is never taken back.
      await deleteKeys(prefix);
      const newer = (await b.acquire()) as number;
      expect(newer).toBeGreaterThan(token);
      await deleteKeys(prefix);
      expect(await a.acquire()).toBeGreaterThan(newer);
      expect(await b.fencedSet("group:gw", "y", newer)).toBe(false);
      await a.release();
    });

    it("many replicas racing for a free lease: exactly one wins, and its writes are accepted", async () => {
      const prefix = newPrefix();
      const holders = Array.from({ length: 10 }, (_, i) => lease(prefix, `racer-${i}`, 5000));
      const tokens = await Promise.all(holders.map((h) => h.acquire()));
      const won = tokens.filter((t) => t !== undefined) as number[];
      expect(won).toHaveLength(1);
      // Tokens drawn by the losers (above the winner's) were never granted: they fence nothing.
      expect(await holders[0]?.fencedSet(`k:${prefix}`, "v", won[0] as number)).toBe(true);
      await Promise.all(holders.map((h) => h.release()));
    });
  },
);

describe("local lease (the embedded collector)", () => {
  it("always leads, and a token from before a release is fenced off", async () => {
    const lease = localLease();
    const first = (await lease.acquire()) as number;
    expect(await lease.fencedSet("route:gw", "primary", first)).toBe(true);
    await lease.release();
    const second = (await lease.acquire()) as number;
    expect(second).toBeGreaterThan(first);
    expect(await lease.fencedSet("route:gw", "old", first)).toBe(false);
    expect(await lease.fencedGet("route:gw")).toEqual({ value: "primary", token: first });
  });

  it("hands out one token to callers asking at once (the tick and the renewer)", async () => {
    const lease = localLease();
    const tokens = await Promise.all([lease.acquire(), lease.acquire(), lease.acquire()]);
    expect(new Set(tokens).size).toBe(1);
    expect(await lease.fencedSet("k", "v", tokens[0] as number)).toBe(true);
  });
});

describe("fence store contract", () => {
  const stores: { name: string; open: () => Promise<{ fence: FenceStore; done: () => Promise<void> }> }[] = [
    { name: "in-process", open: async () => ({ fence: memoryFenceStore(), done: async () => {} }) },
    ...backends
      .filter((b) => !b.skip)
      .map((b) => ({
        name: b.name,
        open: async () => {
          const opened = await b.open();
          await migrate(opened.db);
          return {
            fence: new DbFenceStore(opened.db),
            done: async () => {
              await opened.db.close();
              await opened.done();
            },
          };
        },
      })),
  ];
  it.each(stores)("$name: tokens go up; a grant fences older tokens; a row never goes back", async (s) => {
    const { fence, done } = await s.open();
    try {
      expect(await fence.granted()).toBe(0);
      const t1 = await fence.draw();
      const t2 = await fence.draw();
      expect(t2).toBeGreaterThan(t1);
      expect(await fence.grant(t2 + 1)).toBe(false); // never drawn
      expect(await fence.grant(t2)).toBe(true);
      expect(await fence.grant(t1)).toBe(false); // older than the granted one
      expect(await fence.granted()).toBe(t2);
      expect(await fence.set("route:gw", "a", t1)).toBe(false);
      expect(await fence.set("route:gw", "b", t2)).toBe(true);
      expect(await fence.set("route:gw", "c", t2)).toBe(true); // the same leader again
      const t3 = await fence.draw();
      expect(await fence.set("route:gw", "d", t3)).toBe(true); // drawn, not yet granted: still newer
      expect(await fence.grant(t3)).toBe(true);
      expect(await fence.set("route:gw", "e", t2)).toBe(false);
      expect(await fence.get("route:gw")).toEqual({ value: "d", token: t3 });
      expect(await fence.get("nothing")).toBeUndefined();
      // The embedded collector restarting: a new local lease on the same store draws a newer token.
      const before = localLease(fence);
      const t4 = (await before.acquire()) as number;
      expect(await before.fencedSet("route:gw", "f", t4)).toBe(true);
      const after = localLease(fence);
      expect(await after.acquire()).toBeGreaterThan(t4);
      expect(await before.fencedSet("route:gw", "stale", t4)).toBe(false);
    } finally {
      await done();
    }
  });
});
