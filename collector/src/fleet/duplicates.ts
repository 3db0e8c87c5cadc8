import type { HealthState, Heartbeat, Instance } from "../store/liveness/index.ts";
import { MAX_REASON_CHARS, MAX_REASONS } from "./heartbeat.ts";

/** The reason's stable prefix (what a dashboard or an alert matches on). */
export const DUPLICATE_NAME = "duplicate_name";

/** Worst last: a duplicate agent is at least degraded, and as bad as its worst instance. */
const SEVERITY: readonly HealthState[] = ["healthy", "unknown", "degraded", "unhealthy"];

/**
 * Two instances run at once when each was heard from after the other's first heartbeat: a sidecar
 * replaced by one with a new state dir (the old one silent from the new one's first heartbeat on)
 * is not a duplicate, though the old one stays live until it turns stale.
 */
function overlap(a: Instance, b: Instance): boolean {
  return (
    Date.parse(a.lastSeen) >= Date.parse(b.firstSeen) && Date.parse(b.lastSeen) >= Date.parse(a.firstSeen)
  );
}

/** The instances among `live` that run at the same time as another one, by id. */
export function duplicates(live: readonly Instance[]): Instance[] {
  return live
    .filter((a) => live.some((b) => b !== a && overlap(a, b)))
    .sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
}

/**
 * What the fleet records for a heartbeat whose agent name two or more live sidecars report under
 * (`live`: every instance of it heard from lately): one state for them all, at least degraded and
 * as bad as the worst, with a `duplicate_name` reason naming each, then the reasons of those not
 * healthy; each instance listed. Made only of what changes when an instance's state does (ids,
 * hosts, states, reasons, in id order), so the two heartbeats in turn record no change: one
 * incident, not a flap. The heartbeat as it is when there is no duplicate.
 */
export function withDuplicates(heartbeat: Heartbeat, live: readonly Instance[]): Heartbeat {
  const both = duplicates(live);
  if (both.length < 2) return heartbeat;
  const state = both
    .map((i) => i.state)
    .reduce((worst, s) => (SEVERITY.indexOf(s) > SEVERITY.indexOf(worst) ? s : worst), "degraded");
  const named = both.map((i) => `${i.instance} on ${i.host}`).join(", ");
  const reasons = [
    `${DUPLICATE_NAME}: ${both.length} sidecars run as agent ${JSON.stringify(heartbeat.agent)} (instances ${named}): their heartbeats and audit chains mix; give each its own agent name`,
    ...both
      .filter((i) => i.state !== "healthy")
      .flatMap((i) => i.reasons.map((r) => `instance ${i.instance}: ${r}`)),
  ]
    .slice(0, MAX_REASONS)
    .map((r) => r.slice(0, MAX_REASON_CHARS));
  return { ...heartbeat, state, reasons, instances: both };
}
