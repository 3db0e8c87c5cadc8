import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteKeys, redisAvailable, TEST_REDIS } from "../store/liveness/test-backends.ts";
import { type Lease, localLease, redisLease } from "./lease.ts";

const prefix = `clawguard-test-${randomBytes(4).toString("hex")}:`;
let redis: Redis | undefined;

beforeAll(async () => {
  if (await redisAvailable()) redis = new Redis(TEST_REDIS, { lazyConnect: false, maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await deleteKeys(prefix);
  redis?.disconnect();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!(await redisAvailable()))("Redis lease with fencing tokens", () => {
  const lease = (holder: string, ttlMs = 300): Lease => redisLease(redis as Redis, { prefix, holder, ttlMs });

  it("one holder at a time; a paused leader's writes are refused once another took over", async () => {
    const a = lease("replica-a");
    const b = lease("replica-b");
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

  it("many replicas racing for a free lease: exactly one wins", async () => {
    const holders = Array.from({ length: 10 }, (_, i) => lease(`racer-${i}`, 5000));
    const tokens = await Promise.all(holders.map((h) => h.acquire()));
    expect(tokens.filter((t) => t !== undefined)).toHaveLength(1);
    await Promise.all(holders.map((h) => h.release()));
  });
});

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
});
