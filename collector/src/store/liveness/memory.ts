import {
  type AgentRecord,
  deadlineOf,
  type Heartbeat,
  type Instance,
  type LivenessEntry,
  type LivenessOptions,
  type LivenessStore,
  mergeInstance,
  SWEEP_LIMIT,
  signatureOf,
  type Transition,
  transitionOf,
} from "./model.ts";

interface Agent {
  record: AgentRecord;
  rev: number;
  signature: string;
  staleSince: number | null;
  /** When it turns stale; null once the sweep has marked it. */
  deadline: number | null;
  /** Set while a transition is handed out and not confirmed: when to hand it out again. */
  leaseUntil: number | null;
}

/**
 * The embedded default (DESIGN §5): liveness in this process, for a single collector replica.
 * Forgotten on restart: agents reappear with their next heartbeat. Same rules as the Redis backend,
 * each operation atomic because it never awaits.
 */
export class MemoryLiveness implements LivenessStore {
  readonly kind = "memory";
  readonly #o: LivenessOptions;
  readonly #agents = new Map<string, Agent>();
  readonly #instances = new Map<string, Instance[]>();

  constructor(options: LivenessOptions) {
    this.#o = options;
  }

  async record(heartbeat: Heartbeat, now: number): Promise<Transition | null> {
    const record: AgentRecord = { ...heartbeat, lastSeen: new Date(now).toISOString() };
    const previous = this.#agents.get(heartbeat.agent);
    const signature = signatureOf(heartbeat.state, heartbeat.reasons);
    const agent: Agent = {
      record,
      rev: previous?.rev ?? 0,
      signature,
      staleSince: null,
      deadline: deadlineOf(now, heartbeat.intervalMs, this.#o.staleFactor),
      leaseUntil: previous?.leaseUntil ?? null,
    };
    this.#agents.set(heartbeat.agent, agent);
    if (previous?.signature === signature) return null;
    agent.rev = Math.max(agent.rev + 1, now);
    agent.leaseUntil = now + this.#o.leaseMs;
    return transitionOf(record, agent.rev, null, this.#o.staleFactor);
  }

  async sweep(now: number, limit = SWEEP_LIMIT): Promise<Transition[]> {
    const overdue = [...this.#agents.values()]
      .filter((a) => a.deadline !== null && a.deadline < now)
      .sort((a, b) => (a.deadline as number) - (b.deadline as number))
      .slice(0, limit);
    for (const a of overdue) {
      a.rev = Math.max(a.rev + 1, now);
      a.signature = signatureOf("stale", []);
      a.staleSince = a.deadline;
      a.deadline = null;
      a.leaseUntil = now + this.#o.leaseMs;
    }
    // After the marking above, so that an agent just marked is not handed out twice.
    const retry = [...this.#agents.values()]
      .filter((a) => a.leaseUntil !== null && a.leaseUntil <= now)
      .sort((a, b) => (a.leaseUntil as number) - (b.leaseUntil as number))
      .slice(0, limit);
    for (const a of retry) a.leaseUntil = now + this.#o.leaseMs;
    return [...overdue, ...retry].map((a) =>
      transitionOf(a.record, a.rev, a.staleSince, this.#o.staleFactor),
    );
  }

  async sighting(agent: string, seen: Instance, now: number): Promise<Instance[]> {
    const { live } = mergeInstance(this.#instances.get(agent) ?? [], seen, now, this.#o.staleFactor);
    this.#instances.set(agent, live);
    return live;
  }

  async confirm(agent: string, rev: number): Promise<void> {
    const a = this.#agents.get(agent);
    if (a && a.rev === rev) a.leaseUntil = null;
  }

  async list(): Promise<LivenessEntry[]> {
    return [...this.#agents.values()].map((a) => ({
      record: a.record,
      staleSince: a.staleSince === null ? null : new Date(a.staleSince).toISOString(),
    }));
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
