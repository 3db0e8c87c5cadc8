import { randomUUID } from "node:crypto";
import type { Logger } from "@clawguard/shared/log";
import type { AlertRecorder } from "./audit.ts";
import { type AlertClaims, claimed } from "./claims.ts";
import type { AlertsConfig } from "./config.ts";
import type { Courier } from "./delivery.ts";
import { dueAt, enqueue, type Group, spent } from "./group.ts";
import type { InFlight } from "./in-flight.ts";
import type { Notice, Target } from "./notify.ts";
import { resolvedSummary } from "./rules.ts";
import type { ActiveAlert } from "./state.ts";

export interface NotifierOptions {
  config: AlertsConfig;
  targets: Target[];
  claims?: AlertClaims | undefined;
  log: Logger;
  now: () => number;
  /** Notifications of one rule waiting to be posted together (group.ts), kept with the state. */
  groups: Map<string, Group>;
  recorder: AlertRecorder;
  courier: Courier;
  inFlight: InFlight;
}

/**
 * From an alert's change to its post: each notice is claimed (among replicas), recorded
 * (alert.firing, alert.resolved), and put in its rule's group; the groups due are posted.
 */
export class Notifier {
  readonly #o: NotifierOptions;
  /** This evaluation's notices being claimed and recorded before they join their group. */
  readonly #queued: Promise<void>[] = [];

  constructor(options: NotifierOptions) {
    this.#o = options;
  }

  /** The silence covering the alert now, if any (its notifications are not sent, only recorded). */
  silence(notice: { alert: string; agent: string }) {
    const now = this.#o.now();
    return this.#o.config.silences.find(
      (s) =>
        Date.parse(s.until) > now &&
        (s.alert === undefined || s.alert === notice.alert) &&
        (s.agent === undefined || s.agent === notice.agent),
    );
  }

  /** Queues a notice of the alert (settle() waits until it has joined its group). */
  send(a: ActiveAlert, status: Notice["status"], now: number): void {
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
    this.#queued.push(this.#o.inFlight.track(this.#notify(notice, a.key), a.key));
  }

  /** Waits for the notices queued so far to be claimed, recorded and grouped. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#queued.splice(0));
  }

  /** Claims the notice, records it (alert.firing, alert.resolved), and puts it in its rule's group. */
  async #notify(notice: Notice, key: string): Promise<void> {
    const { alert, severity, agent, summary, status } = notice;
    if (!(await claimed(this.#o.claims, `${alert}:${agent}`, status, this.#o.config.repeatMs))) return;
    const silence = this.silence(notice);
    this.#o.log[status === "firing" ? "warn" : "info"](`alert ${status}`, {
      alert,
      severity,
      agent,
      summary,
    });
    // Recorded beside the delivery, never before it: a store that is down must not hold back a page.
    this.#o.recorder.record([
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
    const group = this.#o.groups.get(alert) ?? { pending: [] };
    this.#o.groups.set(alert, group);
    const dropped = enqueue(group, key, notice, this.#o.now());
    if (dropped > 0) this.#o.log.error("alert notices dropped: their group is full", { alert, dropped });
  }

  /** Posts each group that is due (group.ts); forgets those with nothing left to say. */
  postGroups(now: number): void {
    const config = this.#o.config.group;
    for (const [rule, group] of this.#o.groups) {
      const due = dueAt(group, config);
      if (due !== undefined && due <= now) {
        const entries = group.pending.splice(0);
        delete group.firstAt;
        group.sentAt = now;
        this.#o.courier.send(this.#o.targets, { id: randomUUID(), entries }, rule);
      } else if (spent(group, now, config)) this.#o.groups.delete(rule);
    }
  }
}
