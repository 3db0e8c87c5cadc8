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
  /**
   * When the primary's sidecar alone was restarted (it went silent while its gateway still
   * answered), within the restart window (ms): a budget of its own, the gateway's is untouched.
   */
  sidecarRestarts?: number[] | undefined;
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
  /**
   * ...and at least this many agents are: one agent going stale is no sign of a partition (a
   * one-gateway fleet whose standby runs no sidecar is 100 % stale when its primary dies).
   */
  holdMinStale: number;
}

/** How much of the fleet is stale at once: how many agents, and their share of it. */
export interface FleetStale {
  count: number;
  share: number;
  /**
   * The collector is just back from a stall of its own (fleet/stall.ts): staleness measured across
   * its pause is its own, not the agents'. Held the same way until heartbeats had a window.
   */
  selfStalled?: boolean;
}

/**
 * Whether to hold: the fleet is stale enough at once that the collector's own network is the
 * likelier fault, or the collector itself has just stalled.
 */
export function fleetHolds(stale: FleetStale, policy: Policy): boolean {
  return (
    stale.selfStalled === true || (stale.count >= policy.holdMinStale && stale.share > policy.holdStaleShare)
  );
}

/**
 * Why the controller holds, as a stable code (the `why` says it with numbers that change by the
 * tick): a hold is recorded in the agent's incident when its reason changes, not on every tick.
 */
export type HoldReason =
  | "fleet-stale"
  | "standby-unhealthy"
  | "failover-too-soon"
  | "budget-spent"
  | "sidecar-silent";

export type Decision =
  | { action: "none"; why: string }
  | { action: "hold"; reason: HoldReason; why: string }
  | { action: "restart"; agent: string; attempt: number; why: string }
  | { action: "restart-sidecar"; agent: string; attempt: number; why: string }
  | { action: "failover"; from: string; to: string; why: string };

/** What the controller remembers of an agent restarted in place that has no standby (a sub-agent). */
export interface RestartMemory {
  /** When it was restarted, within the restart window (ms). */
  restarts: number[];
}

/** The rules every agent goes through before anything is done to it; `down` when something may be. */
type Gate = { decision: Decision } | { down: { state: "unhealthy" | "stale"; forMs: number } };

/**
 * Nothing while the agent is up (or not heard from); a hold while most of the fleet is stale (for a
 * down agent only: the hold is about what would otherwise be done to it); nothing until it has been
 * down for `unhealthyForMs` (hysteresis).
 */
function gate(
  agent: string,
  seen: Observation | undefined,
  stale: FleetStale,
  now: number,
  policy: Policy,
): Gate {
  if (!seen || (seen.state !== "unhealthy" && seen.state !== "stale")) {
    return { decision: { action: "none", why: `${agent} is ${seen?.state ?? "not heard from yet"}` } };
  }
  if (fleetHolds(stale, policy)) {
    const why = stale.selfStalled
      ? "the collector itself is just back from a stall (paused, frozen): no agent is judged until its heartbeats had one staleness window"
      : `${Math.round(stale.share * 100)} % of the fleet (${stale.count} agents) is stale at once: more likely the collector's network than the agents`;
    return {
      decision: { action: "hold", reason: "fleet-stale", why: `${why}; nothing is restarted or failed over` },
    };
  }
  const forMs = now - seen.since;
  if (forMs < policy.unhealthyForMs) {
    return {
      decision: {
        action: "none",
        why: `${agent} ${seen.state} for ${forMs} ms, waiting ${policy.unhealthyForMs} ms before acting`,
      },
    };
  }
  return { down: { state: seen.state, forMs } };
}

/** The restarts that count against the budget now: those within the restart window. */
export function recentRestarts(restarts: readonly number[], now: number, policy: Policy): number[] {
  return restarts.filter((t) => now - t < policy.restartWindowMs);
}

/** Restarts within the window; the next restart (with its backoff), or undefined when the budget is spent. */
function restartInPlace(
  agent: string,
  restarts: readonly number[],
  down: { state: "unhealthy" | "stale"; forMs: number },
  now: number,
  policy: Policy,
  silent = false,
): Decision | undefined {
  const recent = recentRestarts(restarts, now, policy);
  if (recent.length >= policy.restartBudget) return undefined;
  const last = recent.at(-1);
  const wait = policy.restartBackoffMs * 2 ** Math.max(0, recent.length - 1);
  if (last !== undefined && now - last < wait) {
    return { action: "none", why: `restarted ${agent} ${now - last} ms ago, next attempt after ${wait} ms` };
  }
  const what =
    down.state === "unhealthy"
      ? `unhealthy for ${down.forMs} ms`
      : silent
        ? `stopped sending heartbeats ${down.forMs} ms ago and does not answer at its address`
        : `stopped sending heartbeats ${down.forMs} ms ago`;
  return {
    action: "restart",
    agent,
    attempt: recent.length + 1,
    why: `${agent} ${what}: restart in place (${recent.length + 1} of ${policy.restartBudget})`,
  };
}

/**
 * What the gateway's own address says of a primary whose sidecar went silent (stale): `true`, it
 * still answers /readyz (the sidecar alone is gone: never fence a serving gateway); `false`, it
 * does not (dead, or its host is gone); undefined, not asked.
 */
export type Answers = boolean | undefined;

export function decide(
  group: GroupMemory,
  observe: (agent: string) => Observation | undefined,
  stale: FleetStale,
  now: number,
  policy: Policy,
  answers: Answers = undefined,
): Decision {
  const gated = gate(group.primary, observe(group.primary), stale, now, policy);
  if ("decision" in gated) return gated.decision;
  const { down } = gated;
  if (down.state === "stale" && answers === true) return silentSidecar(group, down.forMs, now, policy);
  // A stale primary that does not answer either is down like an unhealthy one: restarted in place
  // first (a killed container comes back; its sidecar shares its namespace, so it goes silent with
  // it). Not asked (answers undefined): it may have lost its host, fail over.
  if (down.state === "unhealthy" || answers === false) {
    const restart = restartInPlace(group.primary, group.restarts, down, now, policy, answers === false);
    if (restart) return restart;
  }
  const standby = observe(group.standby);
  if (standby?.state === "unhealthy") {
    return {
      action: "hold",
      reason: "standby-unhealthy",
      why: `${group.primary} is ${down.state} but the standby ${group.standby} is unhealthy too`,
    };
  }
  if (group.lastFailoverAt !== undefined && now - group.lastFailoverAt < policy.minFailoverIntervalMs) {
    return {
      action: "hold",
      reason: "failover-too-soon",
      why: `last failover ${now - group.lastFailoverAt} ms ago (minimum ${policy.minFailoverIntervalMs} ms between failovers)`,
    };
  }
  const recent = recentRestarts(group.restarts, now, policy).length;
  const cause =
    down.state === "unhealthy"
      ? `${group.primary} still unhealthy after ${recent} restarts`
      : answers === false
        ? `${group.primary} still silent and not answering after ${recent} restarts`
        : `${group.primary} stopped sending heartbeats ${down.forMs} ms ago`;
  return {
    action: "failover",
    from: group.primary,
    to: group.standby,
    why: `${cause}: fence it, start ${group.standby}`,
  };
}

/**
 * A primary whose sidecar stopped reporting while the gateway itself still answers: its sidecar is
 * restarted (its own budget and backoff), then the controller holds and says so. Never a fence.
 */
function silentSidecar(group: GroupMemory, forMs: number, now: number, policy: Policy): Decision {
  const agent = group.primary;
  const recent = recentRestarts(group.sidecarRestarts ?? [], now, policy);
  const serving = `${agent}'s sidecar sent no heartbeat for ${forMs} ms but ${agent} itself answers /readyz: not fenced (a silent sidecar is not a dead gateway)`;
  if (recent.length >= policy.restartBudget) {
    return {
      action: "hold",
      reason: "sidecar-silent",
      why: `${serving}; its sidecar was restarted ${recent.length} time(s) (controller.restartBudget ${policy.restartBudget}) and is still silent: read its logs (docker logs ${agent}<sidecarSuffix>); the gateway is failed over only if it stops answering`,
    };
  }
  const last = recent.at(-1);
  const wait = policy.restartBackoffMs * 2 ** Math.max(0, recent.length - 1);
  if (last !== undefined && now - last < wait)
    return {
      action: "none",
      why: `${serving}; restarted its sidecar ${now - last} ms ago, next attempt after ${wait} ms`,
    };
  return {
    action: "restart-sidecar",
    agent,
    attempt: recent.length + 1,
    why: `${serving}; restart its sidecar (${recent.length + 1} of ${policy.restartBudget})`,
  };
}

/**
 * What the controller does for an agent with no standby (a sub-agent, a bot): the same gate and
 * restarts in place as a group's primary, stale included (a container that died may come back on
 * restart; there is nothing to fail over to). When the budget is spent it holds, saying what a
 * person can do, until the oldest restart leaves the window.
 */
export function decideRestart(
  agent: string,
  memory: RestartMemory,
  seen: Observation | undefined,
  stale: FleetStale,
  now: number,
  policy: Policy,
): Decision {
  const gated = gate(agent, seen, stale, now, policy);
  if ("decision" in gated) return gated.decision;
  const restart = restartInPlace(agent, memory.restarts, gated.down, now, policy);
  if (restart) return restart;
  const recent = recentRestarts(memory.restarts, now, policy);
  const oldest = recent[0];
  const again =
    oldest === undefined
      ? "restartBudget is 0: the controller never restarts it"
      : `the next restart is due in ${oldest + policy.restartWindowMs - now} ms, when the oldest leaves the ${policy.restartWindowMs} ms window`;
  return {
    action: "hold",
    reason: "budget-spent",
    why: `${agent} still ${gated.down.state} after ${recent.length} restart(s) in place (controller.restartBudget ${policy.restartBudget}); ${again}. Restarting it again will not help: read its logs and its sidecar's reasons (clawguard fleet), fix the cause, then restart it by hand`,
  };
}
