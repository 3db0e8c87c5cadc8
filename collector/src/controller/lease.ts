import type { Redis } from "ioredis";

/**
 * Leadership for the controller: the replica holding the lease acts, every other one waits. Each
 * time the lease is taken it comes with a new fencing token (monotonic across all replicas), and
 * every action and routing change carries it: a write under a token older than the newest one is
 * refused, so a leader that was paused (GC, SIGSTOP, a partition) and wakes up after losing the
 * lease can never act on stale authority.
 */
export interface Lease {
  /** Takes the lease if free, or renews it if held; returns the fencing token while held. */
  acquire(): Promise<number | undefined>;
  release(): Promise<void>;
  /** Sets `key` to `value` under `token`, unless a newer token has written since (fenced). */
  fencedSet(key: string, value: string, token: number): Promise<boolean>;
  /** The value and token of a fenced key. */
  fencedGet(key: string): Promise<{ value: string; token: number } | undefined>;
}

// KEYS: lease, fence   ARGV: holder, ttl ms
// Renews when this holder has it (same token); takes it when free (a new token); else nothing.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current then
  local holder, token = string.match(current, '^(.*)|(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token`;

// KEYS: lease   ARGV: holder
const RELEASE = `
local current = redis.call('GET', KEYS[1])
if current and string.match(current, '^(.*)|%d+$') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

// KEYS: fence, the fenced key   ARGV: value, token
// Refused when the token is older than the newest lease (a new leader exists) or than the key's own.
const FENCED_SET = `
local token = tonumber(ARGV[2])
if token < tonumber(redis.call('GET', KEYS[1]) or '0') then return 0 end
local current = redis.call('HGET', KEYS[2], 'token')
if current and token < tonumber(current) then return 0 end
redis.call('HSET', KEYS[2], 'value', ARGV[1], 'token', ARGV[2])
return 1`;

export function redisLease(redis: Redis, options: { prefix: string; holder: string; ttlMs: number }): Lease {
  const lease = `${options.prefix}{control}:lease`;
  const fence = `${options.prefix}{control}:fence`;
  const key = (name: string) => `${options.prefix}{control}:fenced:${name}`;
  return {
    async acquire() {
      const token = (await redis.eval(ACQUIRE, 2, lease, fence, options.holder, options.ttlMs)) as
        | number
        | null;
      return token ?? undefined;
    },
    async release() {
      await redis.eval(RELEASE, 1, lease, options.holder);
    },
    async fencedSet(name, value, token) {
      return (await redis.eval(FENCED_SET, 2, fence, key(name), value, token)) === 1;
    },
    async fencedGet(name) {
      const got = await redis.hgetall(key(name));
      return got.value === undefined ? undefined : { value: got.value, token: Number(got.token) };
    },
  };
}

/** The embedded collector is one replica: it always leads, and still fences (its own restarts). */
export function localLease(): Lease {
  let token = 0;
  let held = false;
  const fenced = new Map<string, { value: string; token: number }>();
  return {
    async acquire() {
      if (!held) {
        held = true;
        token++;
      }
      return token;
    },
    async release() {
      held = false;
    },
    async fencedSet(name, value, t) {
      if (t < token || t < (fenced.get(name)?.token ?? 0)) return false;
      fenced.set(name, { value, token: t });
      return true;
    },
    async fencedGet(name) {
      return fenced.get(name);
    },
  };
}
