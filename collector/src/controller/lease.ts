import type { Redis } from "ioredis";
import { type FenceStore, memoryFenceStore } from "../store/fence-store.ts";

/**
 * Leadership for the controller: the replica holding the lease acts, every other one waits. Each
 * time the lease is taken it comes with a new fencing token, and every action and routing change
 * carries it: a write under a token older than the newest one is refused, so a leader that was
 * paused (GC, SIGSTOP, a partition) and wakes up after losing the lease can never act on stale
 * authority.
 *
 * Who holds the lease lives in Redis (a TTL'd key); the tokens and what is written under them live
 * in the durable store (FenceStore: PostgreSQL, or PGlite embedded). Redis losing its data (a
 * restart without persistence, a failover to a replica that lagged, eviction) can then hand the
 * lease to someone else early, but never hand out a token again, nor let an old one write.
 */
export interface Lease {
  /** Takes the lease if free, or renews it if held; returns the fencing token while held. */
  acquire(): Promise<number | undefined>;
  release(): Promise<void>;
  /** Sets `key` to `value` under `token`, unless a newer token was granted or wrote it (fenced). */
  fencedSet(key: string, value: string, token: number): Promise<boolean>;
  /** The value and token of a fenced key. */
  fencedGet(key: string): Promise<{ value: string; token: number } | undefined>;
  /** The newest token a lease was granted with, in the durable store (0: none yet). */
  granted(): Promise<number>;
}

/** What a router reads: a fenced key's value and token. */
export type FencedReader = Pick<Lease, "fencedGet">;

// KEYS: lease   ARGV: holder, ttl ms
// Renews when this holder has it: its token; held by another: -1; free: 0.
const RENEW = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local holder, token = string.match(current, '^(.*)|(%d+)$')
if holder ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return tonumber(token)`;

// KEYS: lease   ARGV: holder|token (or holder alone: any token)
const RELEASE = `
local current = redis.call('GET', KEYS[1])
if current and (current == ARGV[1] or string.match(current, '^(.*)|%d+$') == ARGV[1]) then
  redis.call('DEL', KEYS[1])
end
return 1`;

export const fencedKey = (prefix: string, name: string) => `${prefix}{control}:fenced:${name}`;

export function redisLease(
  redis: Redis,
  fence: FenceStore,
  options: { prefix: string; holder: string; ttlMs: number; name?: string },
): Lease {
  // The controller's is "lease"; another's (the alerts') is named after it.
  const lease = `${options.prefix}{control}:lease${options.name ? `:${options.name}` : ""}`;
  const { holder, ttlMs } = options;
  /** The token this replica last led under. */
  let mine: number | undefined;
  const take = async (token: number) =>
    (await redis.set(lease, `${holder}|${token}`, "PX", ttlMs, "NX")) === "OK";
  return {
    async acquire() {
      const held = Number(await redis.eval(RENEW, 1, lease, holder, ttlMs));
      if (held > 0) {
        // Held in Redis, but Redis may have been restored from an old snapshot (or failed over):
        // a newer token granted since means another replica took over; this one steps down.
        if ((await fence.granted()) <= held) {
          mine = held;
          return held;
        }
        await redis.eval(RELEASE, 1, lease, `${holder}|${held}`);
        mine = undefined;
        return undefined;
      }
      if (held < 0) {
        mine = undefined;
        return undefined;
      }
      // Free. When this replica led and no newer token was granted since (Redis lost the key: a
      // restart, eviction), it takes the lease back under the same token: its step under way goes
      // on, instead of being fenced off by its own new token and started again.
      if (mine !== undefined && (await fence.granted()) === mine && (await take(mine))) return mine;
      mine = undefined;
      const token = await fence.draw();
      if (!(await take(token))) return undefined;
      if (await fence.grant(token)) {
        mine = token;
        return token;
      }
      // Paused between taking the lease and granting it long enough for another to take over.
      await redis.eval(RELEASE, 1, lease, `${holder}|${token}`);
      return undefined;
    },
    async release() {
      mine = undefined;
      await redis.eval(RELEASE, 1, lease, holder);
    },
    fencedSet: (key, value, token) => fence.set(key, value, token),
    fencedGet: (key) => fence.get(key),
    granted: () => fence.granted(),
  };
}

/**
 * The embedded collector is one replica: it always leads, and still fences (its own restarts: the
 * fence is in its PGlite data directory). With no fence given, an in-process one (tests).
 */
export function localLease(fence: FenceStore = memoryFenceStore()): Lease {
  let token: number | undefined;
  // The tick and the renewer may ask at once: one draw, or the second would fence off the first.
  let taking: Promise<number | undefined> | undefined;
  const take = async () => {
    const drawn = await fence.draw();
    if (!(await fence.grant(drawn))) return undefined;
    token = drawn;
    return drawn;
  };
  return {
    async acquire() {
      if (token !== undefined) return token;
      taking ??= take().finally(() => {
        taking = undefined;
      });
      return taking;
    },
    async release() {
      token = undefined;
    },
    fencedSet: (key, value, t) => fence.set(key, value, t),
    fencedGet: (key) => fence.get(key),
    granted: () => fence.granted(),
  };
}

/** The Redis copy of the routes (routes.ts keeps it in step): what routers read, with no database. */
export function redisRouteMirror(redis: Redis, prefix: string): FencedReader {
  return {
    async fencedGet(name) {
      const got = await redis.hgetall(fencedKey(prefix, name));
      return got.value === undefined ? undefined : { value: got.value, token: Number(got.token) };
    },
  };
}
