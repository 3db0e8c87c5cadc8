import { ClawguardError, describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import { type Redis, ReplyError } from "ioredis";

/**
 * The Redis setting the lease needs: its keys must never be evicted. Under an `allkeys-*`
 * maxmemory-policy Redis drops the lease (and the routes' copy, liveness) whenever memory runs
 * short, and leadership flaps: each replica takes a new token in turn, stopping and starting
 * gateways (drilled: 107 tokens in 30 s). `volatile-*` may evict only keys with a TTL (the lease
 * among them: an early handover, fenced, not a loop); `noeviction` is what the lease is made for.
 */
export const EVICTING = /^allkeys-/;

/** Why the controller must not run on this Redis (its maxmemory-policy), or undefined. */
export function evictionProblem(policy: string): string | undefined {
  return EVICTING.test(policy)
    ? `redis: maxmemory-policy is ${policy}: Redis may evict the controller's lease and leadership would flap (a new fencing token, a stop and a start, again and again); set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction) on the Redis of redis.url`
    : undefined;
}

/**
 * Reads the policy (CONFIG GET maxmemory-policy). Returns the problem when it evicts any key;
 * undefined when it is fine or cannot be read: CONFIG disabled or renamed (a managed Redis) is
 * warned about once, and Redis unreachable is the tick's failure to report, not this check's.
 */
export function evictionCheck(redis: Redis, log: Logger): () => Promise<string | undefined> {
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string, fields: Record<string, unknown>) => {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn(message, fields);
  };
  return async () => {
    let policy: string | undefined;
    try {
      const reply = (await redis.call("CONFIG", "GET", "maxmemory-policy")) as string[];
      policy = reply[1];
    } catch (err) {
      if (!(err instanceof ReplyError)) return undefined;
      warnOnce(
        "config",
        "redis: cannot read maxmemory-policy (CONFIG GET refused): make sure it is noeviction, the controller's lease must never be evicted",
        { error: describeError(err) },
      );
      return undefined;
    }
    if (policy === undefined) return undefined;
    if (policy.startsWith("volatile-"))
      warnOnce(
        "volatile",
        "redis: maxmemory-policy evicts keys with a TTL, the controller's lease among them (an early handover when memory runs short); noeviction is what it needs",
        { policy },
      );
    return evictionProblem(policy);
  };
}

/** At start: an evicting policy is a configuration error (exit 78), found before anything runs. */
export async function refuseEvictingRedis(check: () => Promise<string | undefined>): Promise<void> {
  const problem = await check();
  if (problem) throw new ClawguardError("config.invalid", problem);
}
