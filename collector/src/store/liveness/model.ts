import type { SidecarStats } from "@clawguard/shared/stats";

/**
 * Liveness: each agent's last heartbeat, when it turns stale, and the state changes still to be
 * recorded as incidents. Two backends behind one interface: Redis (several collector replicas)
 * and an in-process map (the embedded default, one replica). The contract suite runs on both.
 */

export const HEALTH_STATES = ["healthy", "degraded", "unhealthy", "unknown"] as const;
export const PROBE_STATES = ["passing", "failing", "unknown"] as const;
export type HealthState = (typeof HEALTH_STATES)[number];
export type ProbeState = (typeof PROBE_STATES)[number];
/** What the collector knows about an agent: its own state, or stale when its heartbeats stopped. */
export type FleetState = HealthState | "stale";

/** One heartbeat as a sidecar sends it (POST /v1/heartbeats), already validated. */
export interface Heartbeat {
  agent: string;
  role: string;
  host: string;
  state: HealthState;
  reasons: string[];
  probes: { name: string; state: ProbeState }[];
  versions: Record<string, string>;
  configFingerprint: string;
  /** A short hash per config key (secrets excluded), so drift can say which keys differ. */
  configKeys?: Record<string, string>;
  intervalMs: number;
  /** The sidecar's clock when it sent the heartbeat. */
  time: string;
  /**
   * The sidecar's clock against the collector's, as the sidecar measured it from the previous
   * heartbeat's answer (NTP-style, both ways): offsetMs > 0 when the sidecar's clock is ahead.
   */
  clock?: { offsetMs: number; rttMs: number };
  /** The sidecar's counters since it started, for /metrics (see @clawguard/shared/stats). */
  stats?: SidecarStats;
}

/** The last heartbeat of an agent as stored, with the collector's clock when it arrived. */
export interface AgentRecord extends Heartbeat {
  lastSeen: string;
}

export interface LivenessEntry {
  record: AgentRecord;
  /** When the sweep found the agent overdue (its deadline); null after every heartbeat. */
  staleSince: string | null;
}

/**
 * A change of an agent's state (or reasons) to record as an incident. `rev` grows with every change
 * (max(previous + 1, now in ms)), so the incident store can refuse a transition older than one it
 * already applied, whichever replica delivers it.
 */
export interface Transition {
  agent: string;
  state: FleetState;
  reasons: string[];
  at: string;
  rev: number;
}

export interface LivenessOptions {
  /** An agent is stale when its last heartbeat is older than staleFactor × its intervalMs. */
  staleFactor: number;
  /** How long a transition handed out waits for `confirm` before it is handed out again. */
  leaseMs: number;
}

export interface LivenessStore {
  readonly kind: "redis" | "memory";
  /**
   * Stores `heartbeat` as its agent's last (arrived at `now`). Returns the transition to record when
   * its state or reasons differ from the agent's last known ones (stale included): to one caller
   * only, however many replicas store the same heartbeat at once. Null otherwise.
   */
  record(heartbeat: Heartbeat, now: number): Promise<Transition | null>;
  /**
   * Marks every agent overdue at `now` stale (once: each is handed out to one caller) and hands out
   * again, as the agent's current transition, those whose lease ran out unconfirmed (a replica died,
   * the database was down). At most `limit` of each.
   */
  sweep(now: number, limit?: number): Promise<Transition[]>;
  /** The transition `rev` of `agent` is recorded: stop handing it out (a newer one stays). */
  confirm(agent: string, rev: number): Promise<void>;
  /** Every agent ever heard from. */
  list(): Promise<LivenessEntry[]>;
  /** Throws store.unavailable when the backend cannot be reached. */
  ping(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_LEASE_MS = 15_000;
export const SWEEP_LIMIT = 1000;

/** What decides whether a heartbeat changes anything: its state and reasons. */
export function signatureOf(state: FleetState, reasons: readonly string[]): string {
  return state === "stale" ? "stale" : `${state}\n${JSON.stringify(reasons)}`;
}

/** When an agent whose last heartbeat arrived at `lastSeenMs` turns stale. */
export function deadlineOf(lastSeenMs: number, intervalMs: number, staleFactor: number): number {
  return lastSeenMs + Math.round(intervalMs * staleFactor);
}

/** Whether the last heartbeat is older than staleFactor x intervalMs (what the sweep looks for). */
export function isOverdue(record: AgentRecord, now: number, staleFactor: number): boolean {
  return now > deadlineOf(Date.parse(record.lastSeen), record.intervalMs, staleFactor);
}

export function staleReasons(record: AgentRecord, staleFactor: number): string[] {
  return [
    `no heartbeat since ${record.lastSeen} (expected every ${record.intervalMs} ms, stale after ${staleFactor}x)`,
  ];
}

/** The agent's current transition: its stale mark when it has one, else its last heartbeat. */
export function transitionOf(
  record: AgentRecord,
  rev: number,
  staleSince: number | null,
  staleFactor: number,
): Transition {
  return staleSince === null
    ? { agent: record.agent, state: record.state, reasons: record.reasons, at: record.lastSeen, rev }
    : {
        agent: record.agent,
        state: "stale",
        reasons: staleReasons(record, staleFactor),
        at: new Date(staleSince).toISOString(),
        rev,
      };
}
