/**
 * What the controller does for one gateway group (a primary and its standby), decided from what
 * the fleet says and nothing else: a pure function, so every rule is tested without processes.
 * The leader runs it on every tick and carries out the action under its fencing token.
 */

export type Observed = "healthy" | "degraded" | "unhealthy" | "unknown" | "stale";

export interface Observation {
  state: Observed;
  /** When the agent entered this state (ms). */
  since: number;
}

export interface GroupMemory {
  primary: string;
  standby: string;
  /** When the primary was restarted in place, within the restart window (ms). */
  restarts: number[];
  lastFailoverAt?: number | undefined;
}

export interface Policy {
  /** Hysteresis: the primary must be unhealthy (or stale) this long before anything is done. */
  unhealthyForMs: number;
  /** Restarts in place allowed within `restartWindowMs` before failing over instead. */
  restartBudget: number;
  restartWindowMs: number;
  /** Wait after the n-th restart: backoff × 2^(n-1). */
  restartBackoffMs: number;
  /** Flap protection: no failover sooner than this after the last one. */
  minFailoverIntervalMs: number;
  /** When more than this share of the fleet is stale, hold: the collector's own network is the likelier fault. */
  holdStaleShare: number;
}

export type Decision =
  | { action: "none"; why: string }
  | { action: "hold"; why: string }
  | { action: "restart"; agent: string; attempt: number; why: string }
  | { action: "failover"; from: string; to: string; why: string };

export function decide(
  group: GroupMemory,
  observe: (agent: string) => Observation | undefined,
  staleShare: number,
  now: number,
  policy: Policy,
): Decision {
  if (staleShare > policy.holdStaleShare) {
    return {
      action: "hold",
      why: `${Math.round(staleShare * 100)} % of the fleet is stale at once: more likely the collector's network than the agents; nothing is restarted or failed over`,
    };
  }
  const primary = observe(group.primary);
  if (!primary || (primary.state !== "unhealthy" && primary.state !== "stale")) {
    return { action: "none", why: `${group.primary} is ${primary?.state ?? "not heard from yet"}` };
  }
  const downFor = now - primary.since;
  if (downFor < policy.unhealthyForMs) {
    return {
      action: "none",
      why: `${group.primary} ${primary.state} for ${downFor} ms, waiting ${policy.unhealthyForMs} ms before acting`,
    };
  }
  const recent = group.restarts.filter((t) => now - t < policy.restartWindowMs);
  // A stale primary may have lost its host: restarting it in place cannot be confirmed, fail over.
  if (primary.state === "unhealthy" && recent.length < policy.restartBudget) {
    const last = recent.at(-1);
    const wait = policy.restartBackoffMs * 2 ** Math.max(0, recent.length - 1);
    if (last !== undefined && now - last < wait) {
      return {
        action: "none",
        why: `restarted ${group.primary} ${now - last} ms ago, next attempt after ${wait} ms`,
      };
    }
    return {
      action: "restart",
      agent: group.primary,
      attempt: recent.length + 1,
      why: `${group.primary} unhealthy for ${downFor} ms: restart in place (${recent.length + 1} of ${policy.restartBudget})`,
    };
  }
  const standby = observe(group.standby);
  if (standby?.state === "unhealthy") {
    return {
      action: "hold",
      why: `${group.primary} is ${primary.state} but the standby ${group.standby} is unhealthy too`,
    };
  }
  if (group.lastFailoverAt !== undefined && now - group.lastFailoverAt < policy.minFailoverIntervalMs) {
    return {
      action: "hold",
      why: `last failover ${now - group.lastFailoverAt} ms ago (minimum ${policy.minFailoverIntervalMs} ms between failovers)`,
    };
  }
  const cause =
    primary.state === "stale"
      ? `${group.primary} stopped sending heartbeats ${downFor} ms ago`
      : `${group.primary} still unhealthy after ${recent.length} restarts`;
  return {
    action: "failover",
    from: group.primary,
    to: group.standby,
    why: `${cause}: fence it, start ${group.standby}`,
  };
}
