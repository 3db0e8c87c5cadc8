import type { Logger } from "@clawguard/shared/log";
import type { CollectorMetrics } from "../metrics/index.ts";
import type { AlertRecorder, OwnEvent } from "./audit.ts";
import type { AlertsConfig } from "./config.ts";
import type { Group } from "./group.ts";
import type { InFlight } from "./in-flight.ts";
import { type Delivery, type DeliveryOptions, deliver, type Post, type Target } from "./notify.ts";

/** A notice and the alert it is of. */
export type Entry = Group["pending"][number];
/** What one round posts of a group (or sends again): to every target, under one id. */
export interface Batch {
  id: string;
  entries: Entry[];
}

/** How many times a notice a target did not take is tried in all (its first delivery included). */
const MAX_REDELIVERIES = 10;
/** Agents an alert.notified record names at most. */
const MAX_NAMED = 1000;

export interface CourierOptions {
  config: AlertsConfig;
  delivery?: DeliveryOptions | undefined;
  metrics?: CollectorMetrics | undefined;
  log: Logger;
  now: () => number;
  recorder: AlertRecorder;
  inFlight: InFlight;
}

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

/**
 * Delivers batches to the targets (deliver() retries each within its deadline), records each
 * outcome, and keeps what a target did not take to send again at later evaluations.
 */
export class Courier {
  readonly #o: CourierOptions;
  /** Notices a target did not take (after the delivery's own retries), sent again at later evaluations. */
  readonly #undelivered: { target: Target; id: string; entries: Entry[]; tries: number; nextAt: number }[] =
    [];

  constructor(options: CourierOptions) {
    this.#o = options;
  }

  /** Sends `batch` to `targets` beside the evaluation. */
  send(targets: Target[], batch: Batch, alert: string): void {
    this.#o.inFlight.track(this.#deliverAll(targets, batch, 0), alert);
  }

  /**
   * Sends again what a target did not take, when due (a resolve lost to a Mattermost that was down
   * left the channel showing FIRING): backoff from 30 s to 30 min, ten tries; a firing notice no
   * longer firing (`firing` says) is left out.
   */
  redeliver(now: number, firing: (key: string) => boolean): void {
    for (const entry of this.#undelivered.splice(0)) {
      const entries = entry.entries.filter((e) => e.notice.status === "resolved" || firing(e.key));
      const first = entries[0];
      if (!first) continue;
      if (entry.nextAt > now) {
        this.#undelivered.push({ ...entry, entries });
        continue;
      }
      this.#o.inFlight.track(
        this.#deliverAll([entry.target], { id: entry.id, entries }, entry.tries),
        first.notice.alert,
      );
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
      this.#undelivered.push({ target, id, entries, tries: tries + 1, nextAt: this.#o.now() + backoff });
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
    this.#o.recorder.record(
      results.map(({ target, entries, d }) => notifiedEvent(target, entries, d, tries)),
    );
  }
}
