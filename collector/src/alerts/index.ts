import { randomUUID } from "node:crypto";
import { resolveSecret } from "@clawguard/shared/config/load";
import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { Lease } from "../controller/lease.ts";
import { type Fleet, type FleetView, heardFrom } from "../fleet/index.ts";
import type { CollectorMetrics } from "../metrics/index.ts";
import type { AlertStateStore } from "../store/alert-state-store.ts";
import type { AuditStore } from "../store/audit-store.ts";
import type { AlertsConfig } from "./config.ts";
import { dueAt, enqueue, type Group, spent } from "./group.ts";
import {
  type Delivery,
  type DeliveryOptions,
  deliver,
  type Notice,
  type Post,
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
  resolvedSummary,
  type Sample,
  sampleOf,
  withKnownRoles,
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
  /**
   * Loaded from the store at a start, its condition not yet seen again: not resolved before the
   * fleet has heard from its agent (see #heard).
   */
  restored?: true;
}

/** Rules over a window of an agent's calls: after a start, the window must fill before they resolve. */
const WINDOWED = new Set<string>(["llm_error_rate", "llm_latency", "provider_auth", "prompt_cache_low"]);
/** How long a stop waits for the lease to be let go. */
const RELEASE_WAIT_MS = 200;
/** How long the evaluation waits for the store to load the state before it goes on without it. */
const RESTORE_WAIT_MS = 60_000;

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
/** A notice and the alert it is of. */
type Entry = Group["pending"][number];
/** What one round posts of a group (or sends again): to every target, under one id. */
interface Batch {
  id: string;
  entries: Entry[];
}
/** Agents an alert.notified record names at most. */
const MAX_NAMED = 1000;

/**
 * The audit record of one delivery: one per post (a Mattermost post of a group names its agents,
 * `count` of them), one per notice to a webhook.
 */
function notifiedEvent(target: Target, entries: Entry[], d: Delivery, tries: number): OwnEvent {
  const notices = entries.map((e) => e.notice);
  const statuses = new Set(notices.map((n) => n.status));
  const one = notices.length === 1 ? notices[0] : undefined;
  return {
    type: "alert.notified",
    severity: d.ok ? "info" : "error",
    attrs: {
      alert: notices[0]?.alert ?? null,
      ...(one ? { agent: one.agent } : { agents: notices.slice(0, MAX_NAMED).map((n) => n.agent) }),
      count: notices.length,
      status: statuses.size === 1 ? [...statuses][0] : "mixed",
      target: target.name,
      ok: d.ok,
      attempts: d.attempts,
      error: d.error ?? null,
      ...(d.unknown ? { unknown: true } : {}),
      ...(tries > 0 ? { redelivery: tries } : {}),
    },
  };
}

export class AlertEngine {
  readonly #o: AlertEngineOptions;
  readonly #now: () => number;
  readonly #active = new Map<string, ActiveAlert>();
  readonly #history = new Map<string, Sample[]>();
  /** Per agent: its last raw counters, and what its resets carried (see #continuous). */
  readonly #counters = new Map<string, { last: Sample; base: Sample | undefined }>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Notices a target did not take (after the delivery's own retries), sent again at later evaluations. */
  readonly #undelivered: { target: Target; id: string; entries: Entry[]; tries: number; nextAt: number }[] =
    [];
  /** Audit records the store did not take yet (bounded: MAX_UNRECORDED). */
  readonly #unrecorded: OwnEvent[] = [];
  #recording: Promise<void> | undefined;
  #actions: { list: RecentAction[]; failing: boolean } = { list: [], failing: false };
  #storeDown = false;
  /** Notifications of one rule waiting to be posted together (group.ts). */
  readonly #groups = new Map<string, Group>();
  /** This evaluation's notices being claimed and recorded before they join their group. */
  readonly #queued: Promise<void>[] = [];
  /** The state as last written to the store (key: its JSON). */
  #saved = new Map<string, string>();
  /** The state was loaded (or there is no store); when it was, if it held anything. */
  #loaded = false;
  #restoredAt: number | undefined;
  #restoreFailedSince: number | undefined;
  #saveFailing = false;
  /** The fencing token this replica evaluates under (undefined: it does not lead). */
  #token: number | undefined;
  #leaseFailing = false;
  /** The token this replica's write was refused under. */
  #fenced: number | undefined;
  /** What the leader last wrote of its alerts, on a replica that does not lead. */
  #follower: ActiveAlert[] = [];

  constructor(options: AlertEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The alerts firing now (GET /v1/alerts). */
  /** The alerts firing now (GET /v1/alerts); on a replica that does not lead, as the leader last wrote them. */
  firing(): ActiveAlert[] {
    const active = this.#token === undefined && this.#o.lease ? this.#follower : [...this.#active.values()];
    return active.filter((a) => a.firing).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** A replica that does not lead reads the leader's alerts from the store (for firing()). */
  async #follow(): Promise<void> {
    const rows = await this.#o.state?.load().catch(() => undefined);
    if (!rows) return; // the store down: the last read stays
    this.#follower = [...rows]
      .filter(([key]) => key.startsWith("alert:"))
      .map(([, value]) => value as ActiveAlert)
      .filter((a) => typeof a?.key === "string");
  }

  /**
   * One round: this replica evaluates only while it leads (the lease), on the state loaded from the
   * store at its first round; the notices it decides join their rule's group, the groups due are
   * posted, and the changed state is written under the lease's token.
   */
  async evaluate(): Promise<void> {
    const token = await this.#lead();
    if (token === undefined) return this.#follow();
    if (!(await this.#restore())) return;
    const now = this.#now();
    const [view, actions] = await Promise.all([this.#o.fleet.view(), this.#recentActions(now)]);
    const current = this.#conditions(view, actions, now);
    for (const c of current.values()) this.#hold(c, now);
    const reported = view.agents.filter(heardFrom);
    const heard = {
      agents: new Set(reported.map((a) => a.agent)),
      roles: new Set(reported.map((a) => a.role)),
    };
    for (const [key, active] of this.#active) {
      if (current.has(key)) continue;
      if (active.restored && !this.#heard(active, heard, now)) continue;
      delete active.restored;
      // Hysteresis: a firing rate alert resolves once its condition has been gone resolveForMs.
      active.clearSince ??= now;
      if (active.firing && now - active.clearSince < (active.resolveForMs ?? 0)) continue;
      this.#active.delete(key);
      if (active.firing) this.#send(active, "resolved", now);
    }
    // Claimed, recorded and grouped before the groups are looked at: a group due now takes them.
    await Promise.allSettled(this.#queued.splice(0));
    this.#postGroups(this.#now());
    this.#redeliver(now);
    this.#flushRecords();
    await this.#persist(token);
  }

  #conditions(view: FleetView, actions: RecentAction[], now: number): Map<string, Condition> {
    const window = this.#o.config.errorRate.windowMs;
    const current = new Map<string, Condition>();
    for (const c of driftConditions(view.drift, this.#o.config)) current.set(c.key, c);
    const roles = new Map(view.agents.map((a) => [a.agent, a.role]));
    for (const c of failoverConditions(actions.map((a) => ({ ...a, role: roles.get(a.agent) ?? "unknown" }))))
      current.set(c.key, c);
    for (const agent of withKnownRoles(view.agents, this.#active.values())) {
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
    return !WINDOWED.has(a.alert) || now - (this.#restoredAt ?? 0) >= this.#o.config.errorRate.windowMs;
  }

  /**
   * The lease's token while this replica leads. A change of token (led, lost, led again) forgets the
   * state: it is loaded again, as the last leader left it. Redis unreachable: the replica that led
   * goes on under its token (the store's fence still refuses it once another is granted one).
   */
  async #lead(): Promise<number | undefined> {
    const lease = this.#o.lease;
    if (!lease) return 0;
    let token: number | undefined;
    try {
      token = await lease.acquire();
      if (this.#leaseFailing) this.#o.log.info("alerts lease reachable again");
      this.#leaseFailing = false;
    } catch (err) {
      if (!this.#leaseFailing)
        this.#o.log.error("alerts lease unreachable: the replica that led goes on, the others wait", {
          leading: this.#token !== undefined,
          error: describeError(err),
        });
      this.#leaseFailing = true;
      return this.#token;
    }
    // Fenced off under this token (a newer one granted): never evaluates under it again.
    if (token !== undefined && token === this.#fenced) token = undefined;
    if (token !== this.#token) {
      this.#o.log.info(
        token === undefined ? "alerts evaluated by another replica" : "alerts evaluated here",
        {
          token: token ?? null,
        },
      );
      this.#forget();
      this.#token = token;
    }
    return token;
  }

  /** Drops the state held in memory (another replica leads, or this one again under a new token). */
  #forget(): void {
    this.#active.clear();
    this.#groups.clear();
    this.#saved = new Map();
    this.#loaded = false;
    this.#restoredAt = undefined;
  }

  /**
   * Loads the state at the first round (and after each change of leader). While the store does not
   * answer, the round waits (for RESTORE_WAIT_MS): evaluating without it would send again what fires
   * and never resolve what fired. Past that, it goes on without, logged.
   */
  async #restore(): Promise<boolean> {
    const store = this.#o.state;
    if (!store) this.#loaded = true;
    if (this.#loaded || !store) return true;
    const now = this.#now();
    try {
      const rows = await store.load();
      let restored = 0;
      for (const [key, value] of rows) {
        this.#saved.set(key, JSON.stringify(value));
        const v = value as Partial<ActiveAlert & Group>;
        if (key.startsWith("alert:") && typeof v.since === "number" && typeof v.alert === "string") {
          this.#active.set(key.slice(6), { ...(v as ActiveAlert), restored: true });
          restored++;
        } else if (key.startsWith("group:") && Array.isArray(v.pending))
          this.#groups.set(key.slice(6), v as Group);
      }
      this.#restoredAt = now;
      this.#restoreFailedSince = undefined;
      this.#loaded = true;
      if (rows.size > 0)
        this.#o.log.info("alert state restored", { alerts: restored, firing: this.firing().length });
      return true;
    } catch (err) {
      this.#restoreFailedSince ??= now;
      const waited = now - this.#restoreFailedSince;
      this.#o.log.error(
        waited < RESTORE_WAIT_MS
          ? "alert state not loaded: evaluation waits for the store"
          : "alert state not loaded: evaluating without it (an alert fired before the start may be sent again, or not resolved)",
        { error: describeError(err) },
      );
      this.#loaded = waited >= RESTORE_WAIT_MS;
      return this.#loaded;
    }
  }

  /**
   * Writes what changed in the state since the last write, under `token`. Not written (the store
   * down): tried again at the next round. Refused (fenced off: another replica was granted a newer
   * token): this one forgets its state and stops evaluating until it leads again.
   */
  async #persist(token: number): Promise<void> {
    const store = this.#o.state;
    if (!store) return;
    const now = new Map<string, string>();
    const values = new Map<string, unknown>();
    for (const [key, a] of this.#active) values.set(`alert:${key}`, a);
    for (const [rule, g] of this.#groups) values.set(`group:${rule}`, g);
    const set = new Map<string, unknown>();
    for (const [key, value] of values) {
      const json = JSON.stringify(value);
      now.set(key, json);
      if (this.#saved.get(key) !== json) set.set(key, value);
    }
    const deleted = [...this.#saved.keys()].filter((k) => !now.has(k));
    try {
      if (!(await store.save(set, deleted, token))) {
        this.#o.log.warn("alert state fenced off: another replica evaluates now", { token });
        this.#forget();
        this.#token = undefined;
        this.#fenced = token;
        return;
      }
      if (this.#saveFailing) this.#o.log.info("alert state written again");
      this.#saveFailing = false;
      this.#saved = now;
    } catch (err) {
      if (!this.#saveFailing)
        this.#o.log.error("alert state not written, tried again at the next evaluation", {
          error: describeError(err),
        });
      this.#saveFailing = true;
    }
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
   * longer firing is left out.
   */
  #redeliver(now: number): void {
    for (const entry of this.#undelivered.splice(0)) {
      const entries = entry.entries.filter(
        (e) => e.notice.status === "resolved" || this.#active.get(e.key)?.firing,
      );
      const first = entries[0];
      if (!first) continue;
      if (entry.nextAt > now) {
        this.#undelivered.push({ ...entry, entries });
        continue;
      }
      this.#track(
        this.#deliverAll([entry.target], { id: entry.id, entries }, entry.tries),
        first.notice.alert,
      );
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
      summary: status === "resolved" ? resolvedSummary(a, a.clearSince ?? now) : a.summary,
      startsAt: new Date(a.firedAt ?? a.since).toISOString(),
      ...(status === "resolved" ? { endsAt: new Date(now).toISOString() } : {}),
      pageUrl: this.#o.config.pageUrl,
    };
    this.#queued.push(this.#track(this.#notify(notice, a.key), a.key));
  }

  /** Runs `task` beside the evaluation (drain() waits for it); its failure is logged. */
  #track(task: Promise<void>, alert: string): Promise<void> {
    const tracked = task.catch((err) =>
      this.#o.log.error("alert not recorded", { alert, error: describeError(err) }),
    );
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
    return tracked;
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

  /** Claims the notice, records it (alert.firing, alert.resolved), and puts it in its rule's group. */
  async #notify(notice: Notice, key: string): Promise<void> {
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
    const group = this.#groups.get(alert) ?? { pending: [] };
    this.#groups.set(alert, group);
    const dropped = enqueue(group, key, notice, this.#now());
    if (dropped > 0) this.#o.log.error("alert notices dropped: their group is full", { alert, dropped });
  }

  /** Posts each group that is due (group.ts); forgets those with nothing left to say. */
  #postGroups(now: number): void {
    const config = this.#o.config.group;
    for (const [rule, group] of this.#groups) {
      const due = dueAt(group, config);
      if (due !== undefined && due <= now) {
        const entries = group.pending.splice(0);
        delete group.firstAt;
        group.sentAt = now;
        this.#track(this.#deliverAll(this.#o.targets, { id: randomUUID(), entries }, 0), rule);
      } else if (spent(group, now, config)) this.#groups.delete(rule);
    }
  }

  /**
   * One delivery per target: to Mattermost the batch in one post, to a webhook each notice on its
   * own (under its id). Records each outcome (one alert.notified per post, naming its agents) and
   * keeps what failed for a later try.
   */
  async #deliverAll(targets: Target[], batch: Batch, tries: number): Promise<void> {
    const listMax = this.#o.config.group.maxAgents;
    const posts = targets.flatMap((target) =>
      target.kind === "mattermost"
        ? [{ target, id: batch.id, entries: batch.entries }]
        : batch.entries.map((e) => ({ target, id: e.notice.id, entries: [e] })),
    );
    const results = await Promise.all(
      posts.map(async (p) => {
        const post: Post = { id: p.id, notices: p.entries.map((e) => e.notice), listMax };
        return { ...p, d: await deliver(p.target, post, this.#o.delivery) };
      }),
    );
    for (const { target, id, entries, d } of results) {
      // Sent whole to Mattermost and not answered: maybe posted, so not sent again (see deliver);
      // a webhook gets it again under the same id.
      if (d.ok || (d.unknown && target.kind === "mattermost") || tries + 1 >= MAX_REDELIVERIES) continue;
      const backoff = Math.min(30_000 * 2 ** tries, 30 * 60_000);
      this.#undelivered.push({ target, id, entries, tries: tries + 1, nextAt: this.#now() + backoff });
    }
    for (const { target, entries, d } of results) {
      this.#o.metrics?.notifications.inc({
        channel: target.kind,
        result: d.ok ? "sent" : d.unknown ? "unknown" : "failed",
      });
      if (!d.ok)
        this.#o.log.warn(`alert notification ${d.unknown ? "may not have been" : "not"} delivered`, {
          target: target.name,
          alert: entries[0]?.notice.alert,
          agents: entries.length,
          error: d.error,
        });
    }
    this.#record(results.map(({ target, entries, d }) => notifiedEvent(target, entries, d, tries)));
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

  /** Lets the lease go (at stop): another replica takes over at once rather than when it lapses. */
  async release(): Promise<void> {
    this.#token = undefined;
    // Bounded: a Redis that does not answer must not hold up the stop (the lease then lapses).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#o.lease?.release().catch(() => {}),
      new Promise((r) => {
        timer = setTimeout(r, RELEASE_WAIT_MS).unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** Waits for the deliveries under way (their retries included). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
