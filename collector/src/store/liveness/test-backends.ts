import { randomBytes } from "node:crypto";
import { silentLogger } from "@clawguard/shared/log";
import { missing } from "@clawguard/shared/testing";
import { Redis } from "ioredis";
import { MemoryLiveness } from "./memory.ts";
import type { LivenessOptions, LivenessStore } from "./model.ts";
import { createRedisLiveness } from "./redis.ts";

/**
 * Test-only: the backends the liveness contract runs on, in-process and real Redis (skipped when
 * unreachable, outside CI). Each `open` uses its own random key prefix and `done` deletes its keys.
 * Never imported by production code.
 */
export const TEST_REDIS = process.env.CLAWGUARD_TEST_REDIS ?? "redis://127.0.0.1:6379";

export async function redisAvailable(): Promise<boolean> {
  const client = new Redis(TEST_REDIS, {
    lazyConnect: true,
    connectTimeout: 2000,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (err) {
    return missing("Redis", TEST_REDIS, `unreachable (${(err as Error).message})`);
  } finally {
    client.disconnect();
  }
}

/** Every key under `prefix`, deleted; returns how many there were. */
export async function deleteKeys(prefix: string): Promise<number> {
  const client = new Redis(TEST_REDIS);
  try {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    if (keys.length > 0) await client.del(...keys);
    return keys.length;
  } finally {
    client.disconnect();
  }
}

export interface LivenessHandle {
  store: LivenessStore;
  /** Another collector replica on the same liveness (for in-process: the same store). */
  replica(): Promise<LivenessStore>;
  prefix: string;
  done(): Promise<void>;
}

export interface LivenessBackend {
  name: string;
  skip: boolean;
  open(options: LivenessOptions): Promise<LivenessHandle>;
}

const redisUp = await redisAvailable();

export const livenessBackends: LivenessBackend[] = [
  {
    name: "in-process",
    skip: false,
    open: async (options) => {
      const store = new MemoryLiveness(options);
      return { store, replica: async () => store, prefix: "", done: () => store.close() };
    },
  },
  {
    name: "Redis",
    skip: !redisUp,
    open: async (options) => {
      const prefix = `clawguard-test-${randomBytes(6).toString("hex")}:`;
      const opened: LivenessStore[] = [];
      const make = async () => {
        const store = await createRedisLiveness({
          ...options,
          url: TEST_REDIS,
          keyPrefix: prefix,
          log: silentLogger,
        });
        opened.push(store);
        return store;
      };
      const store = await make();
      return {
        store,
        replica: make,
        prefix,
        done: async () => {
          await Promise.all(opened.map((s) => s.close()));
          await deleteKeys(prefix);
        },
      };
    },
  },
];
