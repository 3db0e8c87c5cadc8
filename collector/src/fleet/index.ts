import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { IncidentStore } from "../store/incident-store.ts";
import {
  type AgentRecord,
  type Heartbeat,
  isOverdue,
  type LivenessStore,
  type Transition,
} from "../store/liveness/index.ts";
import { withDuplicates } from "./duplicates.ts";
import { StallWatch } from "./stall.ts";

export interface FleetAgent extends AgentRecord {
  stale: boolean;
  /**
   * The agent's clock against the collector's (offsetMs > 0: the agent's is ahead): measured both
   * ways by the sidecar ("round-trip"), else estimated from its last heartbeat's send time and
   * arrival ("one-way": includes the network delay). skewed: beyond fleet.maxClockSkewMs.
   */
  clockOffset: { offsetMs: number; method: "round-trip" | "one-way"; skewed: boolean };
}

/** Agents of one role reporting different config fingerprints (live agents only). */
export interface RoleDrift {
  role: string;
  fingerprints: Record<string, string[]>;
  /** The config keys whose hash is not the same on every agent of the role (when the sidecars say). */
  keys: string[];
}

export interface FleetView {
  agents: FleetAgent[];
  drift: RoleDrift[];
}

export interface FleetOptions {
  liveness: LivenessStore;
  incidents: IncidentStore;
  staleFactor: number;
  /** An agent's clock further than this from the collector's is flagged (default 30 s). */
  maxClockSkewMs?: number;
  log: Logger;
  /** The collector's clock (ms); injectable for tests. */
  now?: () => number;
  /**
   * A gap longer than this between two looks (sweeps, views, heartbeats, controller ticks) is a
   * stall of this collector's own (stall.ts): staleness verdicts are held for a window after it.
   * None: no such hold.
   */
  stallAfterMs?: number;
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 30_000;
/** The sidecar's default heartbeat interval (sidecar heartbeat.intervalMs). */
const DEFAULT_HEARTBEAT_MS = 5_000;
/** Agents whose interval is remembered for the stall hold (the fleet's size is bounded elsewhere). */
const MAX_REMEMBERED = 10_000;

/** The agent's clock offset from its last heartbeat (see FleetAgent.clockOffset). */
export function clockOffsetOf(record: AgentRecord, maxSkewMs: number): FleetAgent["clockOffset"] {
  const offsetMs = record.clock?.offsetMs ?? Date.parse(record.time) - Date.parse(record.lastSeen);
  return {
    offsetMs,
    method: record.clock ? "round-trip" : "one-way",
    skewed: Math.abs(offsetMs) > maxSkewMs,
  };
}

/** Drift per role among live agents: roles whose agents do not all share one fingerprint. */
export function driftOf(agents: readonly FleetAgent[]): RoleDrift[] {
  const roles = new Map<string, Map<string, string[]>>();
  for (const a of agents) {
    if (a.stale) continue;
    const prints = roles.get(a.role) ?? new Map<string, string[]>();
    prints.set(a.configFingerprint, [...(prints.get(a.configFingerprint) ?? []), a.agent]);
    roles.set(a.role, prints);
  }
  return [...roles.entries()]
    .filter(([, prints]) => prints.size > 1)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([role, prints]) => ({
      role,
      fingerprints: Object.fromEntries([...prints.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
      keys: differingKeys(agents.filter((a) => !a.stale && a.role === role)),
    }));
}

/** Keys present with different hashes (or missing on some) among agents that report their keys. */
function differingKeys(agents: readonly FleetAgent[]): string[] {
  const reporting = agents.filter((a) => a.configKeys);
  const keys = new Set(reporting.flatMap((a) => Object.keys(a.configKeys ?? {})));
  return [...keys].filter((key) => new Set(reporting.map((a) => a.configKeys?.[key] ?? "")).size > 1).sort();
}

/**
 * The fleet: heartbeats go to liveness, and every state change liveness reports goes to the
 * incident store, then is confirmed. A change not confirmed (the database was down, this replica
 * died) is handed out again by the next heartbeat or by a sweep once its lease runs out.
 */
export class Fleet {
  readonly liveness: LivenessStore;
  readonly incidents: IncidentStore;
  readonly #o: FleetOptions;
  readonly #now: () => number;
  readonly #stall: StallWatch | undefined;
  /** Each agent's heartbeat interval as this replica last received it: the window of a stall hold. */
  readonly #intervals = new Map<string, number>();

  constructor(options: FleetOptions) {
    this.#o = options;
    this.liveness = options.liveness;
    this.incidents = options.incidents;
    this.#now = options.now ?? Date.now;
    if (options.stallAfterMs !== undefined) this.#stall = new StallWatch(options.stallAfterMs, options.log);
  }

  /**
   * Whether this collector is just back from a stall of its own: no agent is newly judged stale
   * (by the sweep, the fleet view, its alerts, the controller) until one staleness window of
   * heartbeats has been received after it.
   */
  stalled(): boolean {
    if (!this.#stall) return false;
    const interval = Math.max(0, ...this.#intervals.values()) || DEFAULT_HEARTBEAT_MS;
    return this.#stall.holds(this.#now(), interval * this.#o.staleFactor);
  }

  async heartbeat(heartbeat: Heartbeat): Promise<void> {
    this.stalled();
    if (this.#intervals.has(heartbeat.agent) || this.#intervals.size < MAX_REMEMBERED)
      this.#intervals.set(heartbeat.agent, heartbeat.intervalMs);
    const now = this.#now();
    const recorded = heartbeat.instance ? await this.#withInstances(heartbeat, now) : heartbeat;
    const transition = await this.liveness.record(recorded, now);
    if (transition) await this.#apply(transition);
  }

  /** The heartbeat as the fleet records it once its instance is counted (see withDuplicates). */
  async #withInstances(heartbeat: Heartbeat, now: number): Promise<Heartbeat> {
    const at = new Date(now).toISOString();
    const live = await this.liveness.sighting(
      heartbeat.agent,
      {
        instance: heartbeat.instance as string,
        host: heartbeat.host,
        state: heartbeat.state,
        reasons: heartbeat.reasons,
        intervalMs: heartbeat.intervalMs,
        firstSeen: at,
        lastSeen: at,
      },
      now,
    );
    return withDuplicates(heartbeat, live);
  }

  /**
   * Marks overdue agents stale and records what is due; returns how many transitions were recorded.
   * One failing transition does not hold up the others: it is logged and handed out again later.
   */
  async sweep(): Promise<number> {
    if (this.stalled()) return 0;
    const transitions = await this.liveness.sweep(this.#now());
    let recorded = 0;
    for (const t of transitions) {
      try {
        await this.#apply(t);
        recorded++;
      } catch (err) {
        this.#o.log.warn("fleet: state change not recorded, retried later", {
          agent: t.agent,
          state: t.state,
          error: describeError(err),
        });
      }
    }
    return recorded;
  }

  async view(): Promise<FleetView> {
    const now = this.#now();
    // Just back from a stall: only what was judged stale before it (or by another replica) is.
    const held = this.stalled();
    const live: FleetAgent[] = (await this.liveness.list()).map(({ record, staleSince }) => ({
      ...record,
      stale: staleSince !== null || (!held && isOverdue(record, now, this.#o.staleFactor)),
      clockOffset: clockOffsetOf(record, this.#o.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS),
    }));
    const agents = [...live, ...(await this.#lost(new Set(live.map((a) => a.agent))))].sort((a, b) =>
      a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0,
    );
    return { agents, drift: driftOf(agents) };
  }

  /**
   * Agents the store has a state of but liveness has no record of (Redis lost its data, and they
   * have not reported since: a sidecar stopped with its gateway never will): stale, not forgotten.
   * The store unreachable: the fleet is what liveness says, logged.
   */
  async #lost(known: ReadonlySet<string>): Promise<FleetAgent[]> {
    const states = await this.incidents.states().catch((err) => {
      this.#o.log.warn("fleet: agents known to the store not listed", { error: describeError(err) });
      return [];
    });
    return states
      .filter((s) => !known.has(s.agent))
      .map((s) => ({
        agent: s.agent,
        role: "unknown",
        host: "unknown",
        state: "unknown",
        reasons: [
          `no heartbeat since the collector lost its live records (a restart, or Redis emptied): last known ${s.state ?? "unknown"} at ${s.updatedAt}`,
        ],
        probes: [],
        versions: {},
        configFingerprint: "",
        intervalMs: 0,
        time: s.updatedAt,
        lastSeen: s.updatedAt,
        stale: true,
        clockOffset: { offsetMs: 0, method: "one-way", skewed: false },
      }));
  }

  async #apply(t: Transition): Promise<void> {
    await this.incidents.record(t);
    await this.liveness.confirm(t.agent, t.rev);
  }
}

/**
 * Whether the agent's entry comes from a heartbeat (liveness), not only from the store's last state
 * (#lost: role and interval unknown). After a restart with in-process liveness every agent is such
 * an entry until it reports again.
 */
export const heardFrom = (agent: FleetAgent): boolean => agent.intervalMs > 0;
