import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { isClawguardError } from "@clawguard/shared/errors";
import { silentLogger } from "@clawguard/shared/log";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { Heartbeat, LivenessOptions } from "./model.ts";
import { createRedisLiveness } from "./redis.ts";
import { deleteKeys, type LivenessHandle, livenessBackends, TEST_REDIS } from "./test-backends.ts";

/** One contract, two backends: in-process (the embedded default) and Redis (several replicas). */

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const OPTIONS: LivenessOptions = { staleFactor: 3, leaseMs: 30_000 };
const iso = (ms: number) => new Date(ms).toISOString();

function hb(agent: string, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    agent,
    role: "gateway",
    host: "h1",
    state: "healthy",
    reasons: [],
    probes: [{ name: "readyz", state: "passing" }],
    versions: { openclaw: "2026.9.1", clawguard: "0.1.0" },
    configFingerprint: "a".repeat(64),
    intervalMs: 10_000,
    time: iso(T0),
    ...over,
  };
}

describe.each(livenessBackends)("liveness contract on $name", ({ skip, open }) => {
  let handle: LivenessHandle | undefined;
  const fresh = async (options = OPTIONS) => {
    handle = await open(options);
    return handle.store;
  };
  afterEach(async () => {
    await handle?.done();
    handle = undefined;
  });

  it.skipIf(skip)(
    "keeps an agent's instances: first seen kept, the stale forgotten, newest first",
    async () => {
      const store = await fresh();
      const seen = (id: string, at: number, intervalMs = 10_000) => ({
        instance: id,
        host: `host-${id}`,
        state: "healthy" as const,
        reasons: [],
        intervalMs,
        firstSeen: iso(at),
        lastSeen: iso(at),
      });
      expect((await store.sighting("a", seen("x", T0), T0)).map((i) => i.instance)).toEqual(["x"]);
      const both = await store.sighting("a", seen("y", T0 + 5_000), T0 + 5_000);
      expect(both.map((i) => i.instance)).toEqual(["y", "x"]);
      const again = await store.sighting("a", seen("x", T0 + 10_000), T0 + 10_000);
      expect(again.map((i) => [i.instance, i.firstSeen, i.lastSeen])).toEqual([
        ["x", iso(T0), iso(T0 + 10_000)],
        ["y", iso(T0 + 5_000), iso(T0 + 5_000)],
      ]);
      // Another agent's are its own.
      expect((await store.sighting("b", seen("z", T0), T0 + 10_000)).map((i) => i.instance)).toEqual(["z"]);
      // y stale after 3 x 10 s: forgotten.
      const later = await store.sighting("a", seen("x", T0 + 40_000), T0 + 40_000);
      expect(later.map((i) => i.instance)).toEqual(["x"]);
    },
  );

  it.skipIf(skip)("closes twice, and before any use", async () => {
    const store = await fresh();
    await store.close();
    await store.close();
  });

  it.skipIf(skip)("hands out the first heartbeat and each change of state or reasons, once", async () => {
    const store = await fresh();
    const first = await store.record(hb("a"), T0);
    expect(first).toEqual({ agent: "a", state: "healthy", reasons: [], at: iso(T0), rev: T0 });
    expect(await store.record(hb("a"), T0 + 10_000)).toBeNull();
    const degraded = await store.record(hb("a", { state: "degraded", reasons: ["x", "y"] }), T0 + 20_000);
    expect(degraded).toMatchObject({ state: "degraded", reasons: ["x", "y"], at: iso(T0 + 20_000) });
    expect(degraded?.rev).toBe(T0 + 20_000);
    expect(await store.record(hb("a", { state: "degraded", reasons: ["x", "y"] }), T0 + 30_000)).toBeNull();
    const reordered = await store.record(hb("a", { state: "degraded", reasons: ["y", "x"] }), T0 + 40_000);
    expect(reordered).toMatchObject({ state: "degraded", reasons: ["y", "x"] });
    const entries = await store.list();
    expect(entries).toEqual([
      {
        record: { ...hb("a", { state: "degraded", reasons: ["y", "x"] }), lastSeen: iso(T0 + 40_000) },
        staleSince: null,
      },
    ]);
  });

  it.skipIf(skip)("keeps revisions growing when the clock goes back", async () => {
    const store = await fresh();
    const a = await store.record(hb("a"), T0 + 5000);
    const b = await store.record(hb("a", { state: "unhealthy" }), T0 + 1000);
    expect(b?.rev).toBe((a?.rev as number) + 1);
  });

  it.skipIf(skip)("marks an overdue agent stale once, and hands it out again until confirmed", async () => {
    const store = await fresh();
    const first = await store.record(hb("a"), T0);
    await store.confirm("a", first?.rev as number);
    // Stale when older than 3 x 10 s: not at 30 s exactly.
    expect(await store.sweep(T0 + 30_000)).toEqual([]);
    const [stale, ...more] = await store.sweep(T0 + 30_001);
    expect(more).toEqual([]);
    expect(stale).toMatchObject({ agent: "a", state: "stale", at: iso(T0 + 30_000) });
    expect(stale?.reasons.join()).toMatch(/no heartbeat since .* every 10000 ms/);
    expect(stale?.rev).toBe(T0 + 30_001);
    expect(await store.sweep(T0 + 30_002)).toEqual([]);
    expect((await store.list())[0]?.staleSince).toBe(iso(T0 + 30_000));
    // Not confirmed within its lease: handed out again, the same transition.
    expect(await store.sweep(T0 + 60_001)).toEqual([stale]);
    await store.confirm("a", stale?.rev as number);
    expect(await store.sweep(T0 + 600_000)).toEqual([]);
    // Back: a change even though the state is what it was before.
    const back = await store.record(hb("a"), T0 + 700_000);
    expect(back).toMatchObject({ state: "healthy", at: iso(T0 + 700_000), rev: T0 + 700_000 });
    expect((await store.list())[0]?.staleSince).toBeNull();
  });

  it.skipIf(skip)("hands an unconfirmed heartbeat change out again after its lease", async () => {
    const store = await fresh();
    const slow = hb("s", { intervalMs: 600_000 });
    const first = await store.record(slow, T0);
    expect(await store.sweep(T0 + 29_999)).toEqual([]);
    const changed = await store.record(
      { ...slow, state: "unhealthy", reasons: ["probe chat failing"] },
      T0 + 1,
    );
    // An older revision confirmed: the newer change is still owed.
    await store.confirm("s", first?.rev as number);
    expect(await store.sweep(T0 + 30_001)).toEqual([changed]);
    await store.confirm("s", changed?.rev as number);
    expect(await store.sweep(T0 + 120_000)).toEqual([]);
  });

  it.skipIf(skip)("judges each agent by its own interval", async () => {
    const store = await fresh();
    for (const [agent, intervalMs] of [
      ["fast", 1000],
      ["slow", 60_000],
    ] as const) {
      const t = await store.record(hb(agent, { intervalMs }), T0);
      await store.confirm(agent, t?.rev as number);
    }
    const fast = await store.sweep(T0 + 3001);
    expect(fast.map((t) => t.agent)).toEqual(["fast"]);
    await store.confirm("fast", fast[0]?.rev as number);
    expect((await store.sweep(T0 + 180_001)).map((t) => t.agent)).toEqual(["slow"]);
    expect((await store.list()).map((e) => e.record.agent).sort()).toEqual(["fast", "slow"]);
  });

  it.skipIf(skip)("gives one change to one of two replicas racing on a heartbeat or a sweep", async () => {
    const store = await fresh();
    const replicas = [store, await (handle as LivenessHandle).replica()];
    for (let round = 0; round < 5; round++) {
      const at = T0 + round * 100_000;
      const state = round % 2 === 0 ? "unhealthy" : "healthy";
      const got = await Promise.all(replicas.map((r) => r.record(hb("r", { state }), at)));
      expect(got.filter((t) => t !== null)).toHaveLength(1);
      const confirmed = got.find((t) => t !== null);
      await replicas[1]?.confirm("r", confirmed?.rev as number);
      const swept = await Promise.all(replicas.map((r) => r.sweep(at + 30_001)));
      expect(swept.flat().map((t) => t.state)).toEqual(["stale"]);
      await store.confirm("r", swept.flat()[0]?.rev as number);
    }
  });
});

describe.skipIf(livenessBackends[1]?.skip)("liveness in Redis", () => {
  let handle: LivenessHandle | undefined;
  afterEach(async () => {
    await handle?.done();
  });

  it("keeps each heartbeat under the prefix with a TTL of staleFactor x intervalMs", async () => {
    handle = await (livenessBackends[1]?.open(OPTIONS) as Promise<LivenessHandle>);
    await handle.store.record(hb("a", { intervalMs: 20_000 }), Date.now());
    const client = new Redis(TEST_REDIS);
    try {
      const key = `${handle.prefix}{fleet}:heartbeat:a`;
      const ttl = await client.pttl(key);
      expect(ttl).toBeGreaterThan(59_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(JSON.parse((await client.get(key)) as string)).toMatchObject({ agent: "a", intervalMs: 20_000 });
      const keys = await client.keys(`${handle.prefix}*`);
      expect(keys.sort()).toEqual(
        ["due", "heartbeat:a", "pending", "records", "revs", "signatures"].map(
          (k) => `${handle?.prefix}{fleet}:${k}`,
        ),
      );
    } finally {
      client.disconnect();
    }
  });
});

/** A TCP proxy to the test Redis that can be cut and restored, on a fixed port. */
async function cuttableProxy(): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void> }> {
  const target = new URL(TEST_REDIS);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: () => listen(port),
  };
}

describe.skipIf(livenessBackends[1]?.skip)("liveness in a Redis that goes away", () => {
  it("fails fast with store.unavailable while Redis is gone, and works again when it is back", async () => {
    const proxy = await cuttableProxy();
    const prefix = `clawguard-test-${Date.now()}-outage:`;
    const store = await createRedisLiveness({
      ...OPTIONS,
      url: proxy.url,
      keyPrefix: prefix,
      log: silentLogger,
    });
    try {
      expect(await store.record(hb("a"), T0)).not.toBeNull();
      await proxy.cut();
      const started = Date.now();
      const err = await store.record(hb("a", { state: "unhealthy" }), T0 + 1).catch((e: unknown) => e);
      expect(isClawguardError(err, "store.unavailable")).toBe(true);
      expect((err as { retryable: boolean }).retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
      await expect(store.ping()).rejects.toSatisfy((e) => isClawguardError(e, "store.unavailable"));
      await proxy.restore();
      await expect
        .poll(
          () =>
            store.ping().then(
              () => true,
              () => false,
            ),
          { timeout: 10_000, interval: 100 },
        )
        .toBe(true);
      expect(await store.record(hb("a", { state: "unhealthy" }), T0 + 2)).toMatchObject({
        state: "unhealthy",
      });
    } finally {
      await store.close();
      await proxy.cut();
      await deleteKeys(prefix);
    }
  });
});

describe("liveness in a Redis that is not there", () => {
  it("refuses to open, naming redis.url, never the password", async () => {
    const url = "redis://:s3cret-pass@127.0.0.1:1/0";
    const err = await createRedisLiveness({ ...OPTIONS, url, keyPrefix: "x:", log: silentLogger }).catch(
      (e: unknown) => e,
    );
    expect(isClawguardError(err, "store.unavailable")).toBe(true);
    expect((err as Error).message).toMatch(
      /^redis\.url: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/,
    );
    expect((err as Error).message).not.toMatch(/s3cret/);
  });
});
