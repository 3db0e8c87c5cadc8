import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { Lease } from "../controller/lease.ts";
import { type Fleet, type FleetView, heardFrom } from "../fleet/index.ts";
import type { CollectorMetrics } from "../metrics/index.ts";
import type { AlertStateStore } from "../store/alert-state-store.ts";
import type { AuditStore } from "../store/audit-store.ts";
import { AlertRecorder } from "./audit.ts";
import type { AlertClaims } from "./claims.ts";
import type { AlertsConfig } from "./config.ts";
import { Courier } from "./delivery.ts";
import { InFlight } from "./in-flight.ts";
import { Notifier } from "./notifier.ts";
import type { DeliveryOptions, Target } from "./notify.ts";
import {
  addSamples,
  type Condition,
  conditionsOf,
  driftConditions,
  failoverConditions,
  isReset,
  moreConditionsOf,
  type RecentAction,
  type Sample,
  sampleOf,
  withKnownRoles,
} from "./rules.ts";
import { type ActiveAlert, AlertState } from "./state.ts";

export interface AlertEngineOptions {
  config: AlertsConfig;
  targets: Target[];
  fleet: Fleet;
  store: AuditStore;
  metrics?: CollectorMetrics | undefined;
  log: Logger;
  /**
   * Several replicas evaluate the same fleet: each notification is claimed first (Redis SET NX with
   * a time to live, shared by the replicas) and sent by the replica that got the claim. None: one
   * replica, every notification its own.
   */
  claims?: AlertClaims | undefined;
  /**
   * Among replicas, the one holding this lease evaluates, the others wait (none: this engine always
   * evaluates). Its fencing token guards the state's writes.
   */
  lease?: Lease | undefined;
  /** Where the alert state is kept across restarts (none: in memory only). */
  state?: AlertStateStore | undefined;
  /** Retries of a failing target and its timeouts (tests make them quick). */
  delivery?: DeliveryOptions;
  now?: () => number;
}

/** Rules over a window of an agent's calls: after a start, the window must fill before they resolve. */
const WINDOWED = new Set<string>(["llm_error_rate", "llm_latency", "provider_auth", "prompt_cache_low"]);

/**
 * The collector's own alerting: every evaluateMs, the rules (rules.ts) on the fleet's last
 * heartbeats; an alert fires once its condition held `forMs`, is notified again every repeatMs while
 * it fires, and is notified resolved when its condition is gone. Each firing and resolution is an
 * audit event (alert.firing, alert.resolved), and so is each delivery (alert.notified, ok or not).
 * Deliveries run beside the evaluation (retried with backoff): a slow webhook never holds up ingest
 * or the next evaluation.
 *
 * The engine decides; the rest acts: the state and its lease (state.ts), the notices' claims,
 * records and groups (notifier.ts), their delivery (delivery.ts), the audit records (audit.ts).
 */
export class AlertEngine {
  readonly #o: AlertEngineOptions;
  readonly #now: () => number;
  readonly #state: AlertState;
  readonly #inFlight: InFlight;
  readonly #recorder: AlertRecorder;
  readonly #courier: Courier;
  readonly #notifier: Notifier;
  readonly #history = new Map<string, Sample[]>();
  /** Per agent: its last raw counters, and what its resets carried (see #continuous). */
  readonly #counters = new Map<string, { last: Sample; base: Sample | undefined }>();
  #actions: { list: RecentAction[]; failing: boolean } = { list: [], failing: false };

  constructor(options: AlertEngineOptions) {
    this.#o = options;
    const now = options.now ?? Date.now;
    this.#now = now;
    const { config, log } = options;
    this.#state = new AlertState({ store: options.state, lease: options.lease, log, now });
    this.#inFlight = new InFlight(log);
    this.#recorder = new AlertRecorder(options.store, log, this.#inFlight);
    const common = { config, log, now, recorder: this.#recorder, inFlight: this.#inFlight };
    this.#courier = new Courier({ ...common, delivery: options.delivery, metrics: options.metrics });
    this.#notifier = new Notifier({
      ...common,
      targets: options.targets,
      claims: options.claims,
      groups: this.#state.groups,
      courier: this.#courier,
    });
  }

  /** The alerts firing now (GET /v1/alerts); on a replica that does not lead, as the leader last wrote them. */
  firing(): ActiveAlert[] {
    return this.#state.firing();
  }

  /**
   * One round: this replica evaluates only while it leads (the lease), on the state loaded from the
   * store at its first round; the notices it decides join their rule's group, the groups due are
   * posted, and the changed state is written under the lease's token.
   */
  async evaluate(): Promise<void> {
    const state = this.#state;
    const token = await state.lead();
    if (token === undefined) return state.follow();
    if (!(await state.restore())) return;
    const now = this.#now();
    const [view, actions] = await Promise.all([this.#o.fleet.view(), this.#recentActions(now)]);
    const current = this.#conditions(view, actions, now);
    for (const c of current.values()) this.#hold(c, now);
    const reported = view.agents.filter(heardFrom);
    const heard = {
      agents: new Set(reported.map((a) => a.agent)),
      roles: new Set(reported.map((a) => a.role)),
    };
    for (const [key, active] of state.active) {
      if (current.has(key)) continue;
      if (active.restored && !this.#heard(active, heard, now)) continue;
      delete active.restored;
      // Hysteresis: a firing rate alert resolves once its condition has been gone resolveForMs.
      active.clearSince ??= now;
      if (active.firing && now - active.clearSince < (active.resolveForMs ?? 0)) continue;
      state.active.delete(key);
      if (active.firing) this.#notifier.send(active, "resolved", now);
    }
    // Claimed, recorded and grouped before the groups are looked at: a group due now takes them.
    await this.#notifier.settle();
    this.#notifier.postGroups(this.#now());
    this.#courier.redeliver(now, (key) => state.active.get(key)?.firing === true);
    this.#recorder.flush();
    await state.persist(token);
  }

  #conditions(view: FleetView, actions: RecentAction[], now: number): Map<string, Condition> {
    const window = this.#o.config.errorRate.windowMs;
    const current = new Map<string, Condition>();
    for (const c of driftConditions(view.drift, this.#o.config)) current.set(c.key, c);
    const roles = new Map(view.agents.map((a) => [a.agent, a.role]));
    for (const c of failoverConditions(actions.map((a) => ({ ...a, role: roles.get(a.agent) ?? "unknown" }))))
      current.set(c.key, c);
    for (const agent of withKnownRoles(view.agents, this.#state.active.values())) {
      // No counters in this heartbeat (none yet, or none sent): no rates, and nothing taken for a reset.
      const sample = agent.stats
        ? this.#continuous(agent.agent, sampleOf(agent.stats, now))
        : sampleOf(undefined, now);
      const ring = (this.#history.get(agent.agent) ?? []).filter((s) => s.at >= now - window);
      const from = agent.stats ? ring[0] : undefined;
      if (agent.stats) ring.push(sample);
      this.#history.set(agent.agent, ring);
      for (const c of conditionsOf(agent, from, sample, this.#o.config)) current.set(c.key, c);
      for (const c of moreConditionsOf(agent, from, sample, this.#o.config)) current.set(c.key, c);
    }
    return current;
  }

  /**
   * Whether a restored alert whose condition is not seen can be taken as gone: the fleet has heard
   * from its agent since the start (an in-process fleet knows no agent after a restart: all its
   * alerts would resolve before the first heartbeats), and for a rate, a whole window has passed.
   */
  #heard(a: ActiveAlert, heard: { agents: Set<string>; roles: Set<string> }, now: number): boolean {
    if (a.alert === "failover") return true; // read from the store, known at once
    if (a.alert === "config_drift") return heard.roles.has(a.role);
    if (!heard.agents.has(a.agent)) return false;
    return !WINDOWED.has(a.alert) || now - (this.#state.restoredAt ?? 0) >= this.#o.config.errorRate.windowMs;
  }

  /**
   * The agent's counters as if they never went back to zero: a sidecar restart (counters reset)
   * carries the counts before it, as PromQL's rate() does. Treated as zero calls instead, the
   * window looked empty and an error-rate alert resolved while the calls still failed.
   */
  #continuous(agent: string, raw: Sample): Sample {
    const seen = this.#counters.get(agent);
    let base = seen?.base;
    if (seen && isReset(seen.last, raw)) base = seen.base ? addSamples(seen.base, seen.last, 0) : seen.last;
    this.#counters.set(agent, { last: raw, base });
    return base ? addSamples(raw, base, raw.at) : raw;
  }

  /**
   * The controller's recent actions, from the store; while it does not answer, the last ones read
   * (so that a store outage neither stops the evaluation nor resolves a failover alert falsely).
   */
  async #recentActions(now: number): Promise<RecentAction[]> {
    try {
      const actions = await this.#queryActions(now);
      if (this.#actions.failing) this.#o.log.info("alert evaluation reads the store again");
      this.#actions = { list: actions, failing: false };
    } catch (err) {
      if (!this.#actions.failing)
        this.#o.log.error("alert evaluation without the store (failover alerts as last read)", {
          error: describeError(err),
        });
      this.#actions.failing = true;
    }
    return this.#actions.list;
  }

  async #queryActions(now: number): Promise<RecentAction[]> {
    const since = new Date(now - this.#o.config.failoverWindowMs).toISOString();
    const { rows } = await this.#o.store.db.query<{ agent: string; action: string; at: Date | string }>(
      `SELECT i.agent, e.action, max(e.at) AS at
         FROM incident_events e JOIN incidents i ON i.id = e.incident_id
        WHERE e.kind = 'action' AND e.at > $1
          AND e.action IN ('route-switched', 'failover-held', 'failover-stalled', 'budget-spent')
        GROUP BY i.agent, e.action`,
      [since],
    );
    return rows.map((r) => ({
      agent: r.agent,
      role: "",
      action: r.action,
      at: new Date(r.at).toISOString(),
    }));
  }

  #hold(c: Condition, now: number): void {
    const active: ActiveAlert = { ...(this.#state.active.get(c.key) ?? { since: now, firing: false }), ...c };
    delete active.clearSince;
    this.#state.active.set(c.key, active);
    if (!active.firing && now - active.since >= c.forMs) {
      active.firing = true;
      active.firedAt = now;
      this.#fire(active, now);
    } else if (!active.firing) {
      return;
    } else if (
      active.notifiedAt === undefined
        ? !this.#notifier.silence(active)
        : now - active.notifiedAt >= this.#o.config.repeatMs
    ) {
      this.#fire(active, now);
    }
  }

  /**
   * Sends a firing notice. A silenced one is only recorded and does not count as notified: when the
   * silence ends while the alert still fires, it is posted at the next evaluation (not repeatMs later).
   */
  #fire(active: ActiveAlert, now: number): void {
    if (this.#notifier.silence(active)) delete active.notifiedAt;
    else active.notifiedAt = now;
    this.#notifier.send(active, "firing", now);
  }

  /** Audit records waiting for the store. */
  get unrecorded(): number {
    return this.#recorder.unrecorded;
  }

  /** Lets the lease go (at stop): another replica takes over at once rather than when it lapses. */
  release(): Promise<void> {
    return this.#state.release();
  }

  /** Waits for the deliveries under way (their retries included). */
  drain(): Promise<void> {
    return this.#inFlight.drain();
  }
}
