import type { Redis } from "ioredis";
import { type FencedReader, fencedKey, type Lease } from "./lease.ts";

/** Where a gateway group's clients go now, and under which fencing token that was decided. */
export interface Route {
  group: string;
  target: string;
  token: number;
}

/** The channel a route change is announced on (the router listens; it also polls, in case one is missed). */
export const routeChannel = (prefix: string) => `${prefix}{control}:routes`;

// KEYS: the mirrored route   ARGV: value, token
// The copy only moves forward: the same route is not news (0); a copy under a newer token than
// ours is left (2, with its value and token: the caller checks it against the durable store); else
// written (1, then announced).
const MIRROR = `
local token = tonumber(ARGV[2])
local current = redis.call('HMGET', KEYS[1], 'value', 'token')
if current[2] and token < tonumber(current[2]) then return {2, current[1] or '', current[2]} end
if current[2] and token == tonumber(current[2]) and current[1] == ARGV[1] then return {0} end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'token', ARGV[2])
return {1}`;

// KEYS: the mirrored route   ARGV: value, token, the forged value, the forged token
// Overwrites a forged copy with the durable route, unless it changed since it was read (1; else 0).
const REPLACE = `
local current = redis.call('HMGET', KEYS[1], 'value', 'token')
if current[1] ~= ARGV[3] or current[2] ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'token', ARGV[2])
return 1`;

/** What a copy to Redis found: nothing to do, copied, or a forged copy it replaced (what it said). */
export type Mirrored = { outcome: "same" | "copied" } | { outcome: "forged"; target: string; token: number };

/**
 * Repoints a group under the leader's token: written in the durable store with a compare on the
 * token (refused, false, when it is stale), then copied to Redis for the routers and announced;
 * a forged copy found there is replaced, and told to `onForged`.
 */
export async function setRoute(
  lease: Lease,
  redis: Redis | undefined,
  prefix: string,
  route: Route,
  onForged?: (forged: { target: string; token: number }) => Promise<void>,
): Promise<boolean> {
  const value = JSON.stringify({ target: route.target });
  if (!(await lease.fencedSet(`route:${route.group}`, value, route.token))) return false;
  const mirrored = await mirrorRoute(redis, prefix, route, lease);
  if (mirrored.outcome === "forged") await onForged?.(mirrored);
  return true;
}

/**
 * Copies a route (as the durable store has it) to Redis for the routers and announces it when that
 * changed anything. The leader does this every tick: a Redis that lost its data gets it back.
 * A copy in Redis under a newer token than the durable store holds was not written by a leader:
 * every leader writes the durable store first, and its tokens only move forward. Someone with
 * access to Redis forged it (to send the users' traffic elsewhere): it is replaced by the durable
 * route, whatever its token, and reported (forged). A copy under the route's own token naming
 * another target is copied over like an older one (it may be an earlier route of that token whose
 * update Redis missed).
 */
export async function mirrorRoute(
  redis: Redis | undefined,
  prefix: string,
  route: Route,
  durable: FencedReader,
): Promise<Mirrored> {
  if (!redis) return { outcome: "same" };
  const value = JSON.stringify({ target: route.target });
  const key = fencedKey(prefix, `route:${route.group}`);
  const [status, copied, copiedToken] = (await redis.eval(MIRROR, 1, key, value, route.token)) as [
    number,
    string?,
    string?,
  ];
  if (status === 0) return { outcome: "same" };
  if (status === 2) {
    // Read afresh: a newer leader may have written both since `route` was read.
    const now = await durable.fencedGet(`route:${route.group}`);
    const token = Number(copiedToken);
    if (now && now.token === token && now.value === copied) return { outcome: "same" };
    if (now && now.token > token) return mirrorRoute(redis, prefix, { ...route, ...parse(now) }, durable);
    const fresh = now ? { ...route, ...parse(now) } : route;
    const replaced = await redis.eval(
      REPLACE,
      1,
      key,
      JSON.stringify({ target: fresh.target }),
      fresh.token,
      copied ?? "",
      copiedToken ?? "",
    );
    if (Number(replaced) !== 1) return { outcome: "same" };
    await redis.publish(routeChannel(prefix), route.group);
    return { outcome: "forged", target: targetOf(copied ?? ""), token };
  }
  await redis.publish(routeChannel(prefix), route.group);
  return { outcome: "copied" };
}

const parse = (got: { value: string; token: number }) => ({ target: targetOf(got.value), token: got.token });

/** A route's target, or the raw value when it is not one (a forged value may be anything). */
function targetOf(value: string): string {
  try {
    const target = (JSON.parse(value) as { target?: unknown }).target;
    return typeof target === "string" ? target : value.slice(0, 200);
  } catch {
    return value.slice(0, 200);
  }
}

export async function getRoute(reader: FencedReader, group: string): Promise<Route | undefined> {
  const got = await reader.fencedGet(`route:${group}`);
  if (!got) return undefined;
  return { group, target: (JSON.parse(got.value) as { target: string }).target, token: got.token };
}
