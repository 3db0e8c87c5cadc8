import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { leaseKeys, redisCall, until } from "../support/drill.ts";
import { type PrivateRedis, privateRedisMissing, startPrivateRedis } from "../support/private-stores.ts";
import { freePort, Processes, runCli, waitUntilUp } from "../support/processes.ts";

/**
 * The lease's keys must never be evicted. A collector with a controller on a Redis of the test's
 * own: under maxmemory-policy allkeys-lru it exits 78 naming the setting; set so while it runs,
 * the controller lets the lease go and holds, and leads again once it is noeviction; with CONFIG
 * disabled (a managed Redis) it warns once and runs.
 */

const pgUp = await postgresAvailable();
const missing = privateRedisMissing();
const LEASE_TTL_MS = 2000;

describe.skipIf(!pgUp || missing !== undefined)("the controller on a Redis that evicts keys", () => {
  const procs = new Processes();
  const dir = tempDir("clawguard-redis-policy-");
  const prefix = "clawguard:";
  const redises: PrivateRedis[] = [];
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;

  afterAll(async () => {
    await procs.cleanup();
    for (const r of redises) await r.destroy();
    await db?.drop();
    dir.cleanup();
  });

  const setup = async (redisArgs: string[]) => {
    const redis = await startPrivateRedis(redisArgs);
    redises.push(redis);
    db ??= await createTestDatabase();
    const port = await freePort();
    const config = {
      controller: {
        groups: [
          {
            name: "gw",
            primary: "gw",
            standby: "gw-standby",
            targets: { gw: "http://127.0.0.1:1", "gw-standby": "http://127.0.0.1:2" },
          },
        ],
        actuator: { kind: "command", start: ["true"], stop: ["true"] },
        tickMs: 200,
        leaseTtlMs: LEASE_TTL_MS,
      },
    };
    const file = join(dir.path, `collector-${port}.yaml`);
    writeFileSync(file, JSON.stringify(config));
    writeFileSync(join(dir.path, "tokens"), "gw 0123456789abcdef0123456789abcdef\n");
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
      CLAWGUARD_READ_TOKEN: "fedcba9876543210fedcba9876543210",
      CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
      CLAWGUARD_LOG_FORMAT: "json",
      CLAWGUARD_LOG_LEVEL: "info",
    };
    const lease = async () => (await redisCall(redis.url, [["GET", leaseKeys(prefix).lease]]))[0];
    return { redis, file, env, port, lease };
  };

  it("refuses allkeys-* at start (exit 78), holds when set so at run time, leads again once fixed", {
    timeout: 60_000,
  }, async () => {
    const { redis, file, env, port, lease } = await setup(["--maxmemory-policy", "allkeys-lru"]);
    const refused = await runCli(["collector", "--config", file], env, dir.path);
    expect(refused.code).toBe(78);
    expect(refused.output).toContain("maxmemory-policy is allkeys-lru");
    expect(await lease()).toBeNull();

    await redisCall(redis.url, [["CONFIG", "SET", "maxmemory-policy", "noeviction"]]);
    const collector = procs.cli("collector", ["collector", "--config", file], env, dir.path);
    await waitUntilUp(`http://127.0.0.1:${port}/readyz`, collector, 60_000);
    await until("the lease held", async () => typeof (await lease()) === "string", 10_000);

    await redisCall(redis.url, [["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]]);
    const heldAt = Date.now();
    await until("the lease let go", async () => (await lease()) === null, 3 * LEASE_TTL_MS, 50);
    const letGoMs = Date.now() - heldAt;
    expect(collector.output()).toContain("controller holds: it will not lead on this Redis");
    // It stays let go: no replica takes it back meanwhile (the renewal holds too).
    await new Promise((r) => setTimeout(r, LEASE_TTL_MS));
    expect(await lease()).toBeNull();

    await redisCall(redis.url, [["CONFIG", "SET", "maxmemory-policy", "noeviction"]]);
    await until("the lease held again", async () => typeof (await lease()) === "string", 3 * LEASE_TTL_MS);
    expect(collector.output()).toContain("controller leads again");
    console.log(`[redis-policy] lease let go ${letGoMs} ms after maxmemory-policy became allkeys-random`);
    expect(collector.child.exitCode).toBeNull();
    await collector.kill("SIGTERM");
    await collector.exited;
  });

  it("with CONFIG disabled (a managed Redis): warns once that it cannot tell, and leads", {
    timeout: 60_000,
  }, async () => {
    const { file, env, port, lease } = await setup(["--rename-command", "CONFIG", ""]);
    const collector = procs.cli("collector", ["collector", "--config", file], env, dir.path);
    await waitUntilUp(`http://127.0.0.1:${port}/readyz`, collector, 60_000);
    await until("the lease held", async () => typeof (await lease()) === "string", 10_000);
    await new Promise((r) => setTimeout(r, LEASE_TTL_MS + 500));
    const warnings = collector
      .output()
      .split("\n")
      .filter((l) => l.includes("cannot read maxmemory-policy"));
    expect(warnings).toHaveLength(1);
    await collector.kill("SIGTERM");
    await collector.exited;
  });
});
