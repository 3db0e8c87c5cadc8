import type { Redis } from "ioredis";
import type { Lease } from "./lease.ts";

/** Where a gateway group's clients go now, and under which fencing token that was decided. */
export interface Route {
  group: string;
  target: string;
  token: number;
}

/** The channel a route change is announced on (the router listens; it also polls, in case one is missed). */
export const routeChannel = (prefix: string) => `${prefix}{control}:routes`;

/** Repoints a group under the leader's token; refused (false) when the token is stale. */
export async function setRoute(
  lease: Lease,
  redis: Redis | undefined,
  prefix: string,
  route: Route,
): Promise<boolean> {
  const value = JSON.stringify({ target: route.target });
  if (!(await lease.fencedSet(`route:${route.group}`, value, route.token))) return false;
  await redis?.publish(routeChannel(prefix), route.group);
  return true;
}

export async function getRoute(lease: Lease, group: string): Promise<Route | undefined> {
  const got = await lease.fencedGet(`route:${group}`);
  if (!got) return undefined;
  return { group, target: (JSON.parse(got.value) as { target: string }).target, token: got.token };
}
