import type { Notice } from "./notify.ts";

export interface AlertClaims {
  /** True for the one replica that may send this notification (for ttlMs). */
  claim(key: string, ttlMs: number): Promise<boolean>;
  release(key: string): Promise<void>;
}

/** How long a resolution's claim holds the other replicas off. */
const RESOLVED_CLAIM_MS = 60_000;

/**
 * Claims in Redis, shared by the replicas. A Redis that does not answer grants the claim: a
 * notification sent twice is better than one never sent.
 */
export function redisClaims(
  redis: { set(...args: unknown[]): Promise<unknown>; del(key: string): Promise<unknown> },
  prefix: string,
): AlertClaims {
  return {
    claim: async (key, ttlMs) => {
      try {
        return (await redis.set(`${prefix}alerts:${key}`, "1", "PX", ttlMs, "NX")) === "OK";
      } catch {
        return true;
      }
    },
    release: async (key) => {
      await redis.del(`${prefix}alerts:${key}`).catch(() => {});
    },
  };
}

/**
 * Whether this replica sends the notice (always, without claims): a firing one is claimed for
 * repeatMs; a resolution for RESOLVED_CLAIM_MS, and it lets the firing claim go.
 */
export async function claimed(
  claims: AlertClaims | undefined,
  key: string,
  status: Notice["status"],
  repeatMs: number,
): Promise<boolean> {
  if (!claims) return true;
  if (status === "firing") return claims.claim(`${key}:firing`, repeatMs);
  if (!(await claims.claim(`${key}:resolved`, RESOLVED_CLAIM_MS))) return false;
  await claims.release(`${key}:firing`); // so that it can fire again at once
  return true;
}
