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
// The copy only moves forward: an older token than the copy's is ignored (0), the same route is
// not news (0); else written (1, then announced).
const MIRROR = `
local token = tonumber(ARGV[2])
local current = redis.call('HMGET', KEYS[1], 'value', 'token')
if current[2] and (token < tonumber(current[2]) or (token == tonumber(current[2]) and current[1] == ARGV[1])) then
  return 0
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'token', ARGV[2])
return 1`;

/**
 * Repoints a group under the leader's token: written in the durable store with a compare on the
 * token (refused, false, when it is stale), then copied to Redis for the routers and announced.
 */
export async function setRoute(
  lease: Lease,
  redis: Redis | undefined,
  prefix: string,
  route: Route,
): Promise<boolean> {
  const value = JSON.stringify({ target: route.target });
  if (!(await lease.fencedSet(`route:${route.group}`, value, route.token))) return false;
  await mirrorRoute(redis, prefix, route);
  return true;
}

/**
 * Copies a route (as the durable store has it) to Redis for the routers and announces it when that
 * changed anything. The leader does this every tick: a Redis that lost its data gets it back.
 */
export async function mirrorRoute(redis: Redis | undefined, prefix: string, route: Route): Promise<boolean> {
  if (!redis) return false;
  const value = JSON.stringify({ target: route.target });
  const key = fencedKey(prefix, `route:${route.group}`);
  if (Number(await redis.eval(MIRROR, 1, key, value, route.token)) !== 1) return false;
  await redis.publish(routeChannel(prefix), route.group);
  return true;
}

export async function getRoute(reader: FencedReader, group: string): Promise<Route | undefined> {
  const got = await reader.fencedGet(`route:${group}`);
  if (!got) return undefined;
  return { group, target: (JSON.parse(got.value) as { target: string }).target, token: got.token };
}
