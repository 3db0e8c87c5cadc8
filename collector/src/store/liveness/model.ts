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
  /** The sidecar process (stable across its restarts on one state dir); older sidecars send none. */
  instance?: string;
  /**
   * Set by the collector, never sent: when two or more sidecars report under this agent's name at
   * once (duplicate_name), each of them, so that all stay visible.
   */
  instances?: Instance[];
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

/** One sidecar process heard from under an agent's name, as the collector saw it. */
export interface Instance {
  instance: string;
  host: string;
  state: HealthState;
  reasons: string[];
  intervalMs: number;
  /** The collector's clock at its first and its latest heartbeat. */
  firstSeen: string;
  lastSeen: string;
}

/** At most this many instances are kept per agent name (the ones heard from last). */
export const MAX_INSTANCES = 16;

/**
 * `seen` added to an agent's `stored` instances (keeping when it was first seen): those heard from
 * within staleFactor x their interval, newest first, at most MAX_INSTANCES (`live`), and the ids of
 * the rest (`gone`), for the backend to forget.
 */
export function mergeInstance(
  stored: readonly Instance[],
  seen: Instance,
  now: number,
  staleFactor: number,
): { live: Instance[]; gone: string[] } {
  const before = stored.find((i) => i.instance === seen.instance);
  const merged = { ...seen, firstSeen: before?.firstSeen ?? seen.firstSeen };
  const all = [merged, ...stored.filter((i) => i.instance !== seen.instance)];
  const fresh = (i: Instance) => now <= deadlineOf(Date.parse(i.lastSeen), i.intervalMs, staleFactor);
  const live = all
    .filter(fresh)
    .sort((a, b) => Date.parse(b.lastSeen) - Date.parse(a.lastSeen))
    .slice(0, MAX_INSTANCES);
  const kept = new Set(live.map((i) => i.instance));
  return { live, gone: all.filter((i) => !kept.has(i.instance)).map((i) => i.instance) };
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
  /**
   * Stores `seen` as one of `agent`'s instances and returns those still live (see mergeInstance),
   * `seen` among them; the others are forgotten.
   */
  sighting(agent: string, seen: Instance, now: number): Promise<Instance[]>;
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
