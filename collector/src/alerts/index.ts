import { randomUUID } from "node:crypto";
import { resolveSecret } from "@clawguard/shared/config/load";
import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { Fleet } from "../fleet/index.ts";
import type { CollectorMetrics } from "../metrics/index.ts";
import type { AuditStore } from "../store/audit-store.ts";
import type { AlertsConfig } from "./config.ts";
import {
  type Delivery,
  type DeliveryOptions,
  deliver,
  type Notice,
  safeTarget,
  type Target,
} from "./notify.ts";
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
} from "./rules.ts";

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
  /** Retries of a failing target and its timeouts (tests make them quick). */
  delivery?: DeliveryOptions;
  now?: () => number;
}

export interface AlertClaims {
  /** True for the one replica that may send this notification (for ttlMs). */
  claim(key: string, ttlMs: number): Promise<boolean>;
  release(key: string): Promise<void>;
}

/** How long a resolution's claim holds the other replicas off. */
const RESOLVED_CLAIM_MS = 60_000;

export interface ActiveAlert extends Condition {
  /** When the condition was first seen (ms). */
  since: number;
  firing: boolean;
  firedAt?: number;
  notifiedAt?: number;
  /** When its condition was last seen gone while it still fires (resolveForMs). */
  clearSince?: number;
}

/**
 * Claims in Redis, shared by the replicas. A Redis that does not answer grants the claim: a
 * notification sent twice is better than one never sent.
 */
export function redisClaims(
  redis: { set(...args: unknown[]): Promise<unknown>; del(key: string): Promise<unknown> },
  prefix: string,
): AlertClaims {
  return {
    claim: async (key, ttlMs) => {
      try {
        return (await redis.set(`${prefix}alerts:${key}`, "1", "PX", ttlMs, "NX")) === "OK";
      } catch {
        return true;
      }
    },
    release: async (key) => {
      await redis.del(`${prefix}alerts:${key}`).catch(() => {});
    },
  };
}

/** The webhook targets of the config, their secrets read; every one that cannot be is a problem. */
export function alertTargets(
  config: AlertsConfig,
  env: NodeJS.ProcessEnv,
): { targets: Target[]; problems: string[] } {
  const problems: string[] = [];
  const url = (ref: AlertsConfig["webhooks"][number]["url"], where: string) => {
    try {
      const value = resolveSecret(ref, env, where);
      if (value && /^https?:\/\/./.test(value) && URL.canParse(value)) return value;
      problems.push(`${where}: expected an http(s) URL from env or file`);
    } catch (err) {
      problems.push(describeError(err));
    }
    return undefined;
  };
  const targets: Target[] = [];
  config.mattermost.forEach((m, i) => {
    const u = url(m.url, `alerts.mattermost[${i}].url`);
    if (u)
      targets.push({ kind: "mattermost", name: `mattermost ${safeTarget(u)}`, url: u, channel: m.channel });
  });
  config.webhooks.forEach((w, i) => {
    const u = url(w.url, `alerts.webhooks[${i}].url`);
    if (u) targets.push({ kind: "webhook", name: `webhook ${safeTarget(u)}`, url: u });
  });
  return { targets, problems };
}

/**
 * The collector's own alerting: every evaluateMs, the rules (rules.ts) on the fleet's last
 * heartbeats; an alert fires once its condition held `forMs`, is notified again every repeatMs while
 * it fires, and is notified resolved when its condition is gone. Each firing and resolution is an
 * audit event (alert.firing, alert.resolved), and so is each delivery (alert.notified, ok or not).
 * Deliveries run beside the evaluation (retried with backoff): a slow webhook never holds up ingest
 * or the next evaluation.
 */
/** How many times a notice a target did not take is tried in all (its first delivery included). */
const MAX_REDELIVERIES = 10;
/** Audit records of the alerting kept in memory while the store is down (the oldest go first). */
const MAX_UNRECORDED = 1000;

type OwnEvent = Parameters<AuditStore["recordOwn"]>[0][number];

export class AlertEngine {
  readonly #o: AlertEngineOptions;
  readonly #now: () => number;
  readonly #active = new Map<string, ActiveAlert>();
  readonly #history = new Map<string, Sample[]>();
  /** Per agent: its last raw counters, and what its resets carried (see #continuous). */
  readonly #counters = new Map<string, { last: Sample; base: Sample | undefined }>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Notices a target did not take (after the delivery's own retries), sent again at later evaluations. */
  readonly #undelivered: { target: Target; notice: Notice; tries: number; nextAt: number }[] = [];
  /** Audit records the store did not take yet (bounded: MAX_UNRECORDED). */
  readonly #unrecorded: OwnEvent[] = [];
  #recording: Promise<void> | undefined;
  #actions: { list: RecentAction[]; failing: boolean } = { list: [], failing: false };
  #storeDown = false;

  constructor(options: AlertEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The alerts firing now (GET /v1/alerts). */
  firing(): ActiveAlert[] {
    return [...this.#active.values()].filter((a) => a.firing).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async evaluate(): Promise<void> {
    const now = this.#now();
    const window = this.#o.config.errorRate.windowMs;
    const current = new Map<string, Condition>();
    const [view, actions] = await Promise.all([this.#o.fleet.view(), this.#recentActions(now)]);
    for (const c of driftConditions(view.drift, this.#o.config)) current.set(c.key, c);
    const roles = new Map(view.agents.map((a) => [a.agent, a.role]));
    for (const c of failoverConditions(actions.map((a) => ({ ...a, role: roles.get(a.agent) ?? "unknown" }))))
      current.set(c.key, c);
    for (const agent of view.agents) {
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
    for (const c of current.values()) this.#hold(c, now);
    for (const [key, active] of this.#active) {
      if (current.has(key)) continue;
      // Hysteresis: a firing rate alert resolves once its condition has been gone resolveForMs.
      active.clearSince ??= now;
      if (active.firing && now - active.clearSince < (active.resolveForMs ?? 0)) continue;
      this.#active.delete(key);
      if (active.firing) this.#send(active, "resolved", now);
    }
    this.#redeliver(now);
    this.#flushRecords();
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
   * Sends again what a target did not take, when due (a resolve lost to a Mattermost that was down
   * left the channel showing FIRING): backoff from 30 s to 30 min, ten tries; a firing notice no
   * longer firing is dropped.
   */
  #redeliver(now: number): void {
    for (const entry of this.#undelivered.splice(0)) {
      const { notice } = entry;
      const stale =
        notice.status === "firing" && !this.#active.get(`${notice.alert}:${notice.agent}`)?.firing;
      if (stale) continue;
      if (entry.nextAt > now) {
        this.#undelivered.push(entry);
        continue;
      }
      const task = this.#deliverAll([entry.target], notice, entry.tries).catch((err) =>
        this.#o.log.error("alert not recorded", { alert: notice.alert, error: describeError(err) }),
      );
      this.#inFlight.add(task);
      void task.finally(() => this.#inFlight.delete(task));
    }
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
    const active: ActiveAlert = { ...(this.#active.get(c.key) ?? { since: now, firing: false }), ...c };
    delete active.clearSince;
    this.#active.set(c.key, active);
    if (!active.firing && now - active.since >= c.forMs) {
      active.firing = true;
      active.firedAt = now;
      this.#fire(active, now);
    } else if (!active.firing) {
      return;
    } else if (
      active.notifiedAt === undefined
        ? !this.#silence(active)
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
    if (this.#silence(active)) delete active.notifiedAt;
    else active.notifiedAt = now;
    this.#send(active, "firing", now);
  }

  #send(a: ActiveAlert, status: Notice["status"], now: number): void {
    const notice: Notice = {
      id: randomUUID(),
      status,
      alert: a.alert,
      severity: a.severity,
      agent: a.agent,
      role: a.role,
      summary: a.summary,
      startsAt: new Date(a.firedAt ?? a.since).toISOString(),
      ...(status === "resolved" ? { endsAt: new Date(now).toISOString() } : {}),
      pageUrl: this.#o.config.pageUrl,
    };
    const task = this.#notify(notice).catch((err) =>
      this.#o.log.error("alert not recorded", { alert: a.key, error: describeError(err) }),
    );
    this.#inFlight.add(task);
    void task.finally(() => this.#inFlight.delete(task));
  }

  /** The silence covering the alert now, if any (its notifications are not sent, only recorded). */
  #silence(notice: { alert: string; agent: string }) {
    const now = this.#now();
    return this.#o.config.silences.find(
      (s) =>
        Date.parse(s.until) > now &&
        (s.alert === undefined || s.alert === notice.alert) &&
        (s.agent === undefined || s.agent === notice.agent),
    );
  }

  /** Whether this replica sends the notice (always, without claims). */
  async #claimed(key: string, status: Notice["status"]): Promise<boolean> {
    const claims = this.#o.claims;
    if (!claims) return true;
    if (status === "firing") return claims.claim(`${key}:firing`, this.#o.config.repeatMs);
    if (!(await claims.claim(`${key}:resolved`, RESOLVED_CLAIM_MS))) return false;
    await claims.release(`${key}:firing`); // so that it can fire again at once
    return true;
  }

  async #notify(notice: Notice): Promise<void> {
    const { alert, severity, agent, summary, status } = notice;
    if (!(await this.#claimed(`${alert}:${agent}`, status))) return;
    const silence = this.#silence(notice);
    this.#o.log[status === "firing" ? "warn" : "info"](`alert ${status}`, {
      alert,
      severity,
      agent,
      summary,
    });
    // Recorded beside the delivery, never before it: a store that is down must not hold back a page.
    this.#record([
      {
        type: `alert.${status}`,
        severity:
          status === "resolved"
            ? "info"
            : severity === "P0"
              ? "critical"
              : severity === "P1"
                ? "error"
                : "warn",
        attrs: {
          ...notice,
          targets: this.#o.targets.map((t) => t.name),
          ...(silence ? { silenced: { until: silence.until, reason: silence.reason ?? null } } : {}),
        },
      },
    ]);
    if (silence) {
      // Not sent: the claim goes, so that whichever replica sees the silence end posts at once.
      if (status === "firing") await this.#o.claims?.release(`${alert}:${agent}:firing`);
      return;
    }
    await this.#deliverAll(this.#o.targets, notice, 0);
  }

  /** Delivers `notice` to `targets`, records each outcome, and keeps what failed for a later try. */
  async #deliverAll(targets: Target[], notice: Notice, tries: number): Promise<void> {
    const { alert, agent, status } = notice;
    const results = await Promise.all(
      targets.map(async (t): Promise<[Target, Delivery]> => [t, await deliver(t, notice, this.#o.delivery)]),
    );
    for (const [target, d] of results) {
      // Sent whole to Mattermost and not answered: maybe posted, so not sent again (see deliver);
      // a webhook gets it again under the same id.
      if (d.ok || (d.unknown && target.kind === "mattermost") || tries + 1 >= MAX_REDELIVERIES) continue;
      const backoff = Math.min(30_000 * 2 ** tries, 30 * 60_000);
      this.#undelivered.push({ target, notice, tries: tries + 1, nextAt: this.#now() + backoff });
    }
    for (const [t, d] of results) {
      this.#o.metrics?.notifications.inc({
        channel: t.kind,
        result: d.ok ? "sent" : d.unknown ? "unknown" : "failed",
      });
      if (!d.ok)
        this.#o.log.warn("alert notification not delivered", {
          target: t.name,
          alert,
          agent,
          error: d.error,
        });
    }
    this.#record(
      results.map(([t, d]) => ({
        type: "alert.notified",
        severity: d.ok ? "info" : "error",
        attrs: {
          alert,
          agent,
          status,
          target: t.name,
          ok: d.ok,
          attempts: d.attempts,
          error: d.error ?? null,
          ...(d.unknown ? { unknown: true } : {}),
          ...(tries > 0 ? { redelivery: tries } : {}),
        },
      })),
    );
  }

  /**
   * Writes audit records of the alerting; those the store does not take are kept (the oldest
   * dropped past MAX_UNRECORDED, logged) and written at later evaluations, once it is back.
   */
  #record(events: OwnEvent[]): void {
    this.#unrecorded.push(...events);
    const over = this.#unrecorded.length - MAX_UNRECORDED;
    if (over > 0) {
      this.#unrecorded.splice(0, over);
      this.#o.log.error("alert audit records dropped: the store has been down too long", { dropped: over });
    }
    this.#flushRecords();
  }

  /** One write at a time, in order; a failure keeps them all for the next evaluation's try. */
  #flushRecords(): void {
    if (this.#recording || this.#unrecorded.length === 0) return;
    const batch = this.#unrecorded.splice(0);
    const task = this.#o.store.recordOwn(batch).then(
      () => {
        if (this.#storeDown) this.#o.log.info("alert audit records written again", { count: batch.length });
        this.#storeDown = false;
      },
      (err) => {
        this.#unrecorded.unshift(...batch);
        const over = this.#unrecorded.length - MAX_UNRECORDED;
        if (over > 0) this.#unrecorded.splice(0, over);
        if (!this.#storeDown)
          this.#o.log.error("alert audit records not written, kept to write later", {
            pending: this.#unrecorded.length,
            error: describeError(err),
          });
        this.#storeDown = true;
      },
    );
    this.#recording = task;
    this.#inFlight.add(task);
    void task.finally(() => {
      this.#inFlight.delete(task);
      this.#recording = undefined;
      if (!this.#storeDown) this.#flushRecords(); // what came in meanwhile
    });
  }

  /** Audit records waiting for the store. */
  get unrecorded(): number {
    return this.#unrecorded.length;
  }

  /** Waits for the deliveries under way (their retries included). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
