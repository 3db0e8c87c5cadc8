import type { Logger } from "@clawguard/shared/log";
import { MemoryLiveness } from "./memory.ts";
import { DEFAULT_LEASE_MS, type LivenessStore } from "./model.ts";
import { createRedisLiveness } from "./redis.ts";

export * from "./model.ts";

export interface OpenLivenessOptions {
  /** Redis when set (throws store.unavailable when it cannot be reached); else in-process. */
  redisUrl?: string | undefined;
  keyPrefix: string;
  staleFactor: number;
  leaseMs?: number;
  log: Logger;
}

export async function openLiveness(options: OpenLivenessOptions): Promise<LivenessStore> {
  const common = { staleFactor: options.staleFactor, leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS };
  if (!options.redisUrl) return new MemoryLiveness(common);
  return createRedisLiveness({
    ...common,
    url: options.redisUrl,
    keyPrefix: options.keyPrefix,
    log: options.log,
  });
}
