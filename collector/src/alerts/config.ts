import { httpUrl, int, secretRef } from "@clawguard/shared/config/fields";
import { z } from "zod";
import { ALERT_NAMES } from "./rules.ts";

/** Edits (insert, delete, substitute) from a to b. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(
        (row[j] as number) + 1,
        (next[j - 1] as number) + 1,
        (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    row = next;
  }
  return row[b.length] as number;
}

/** A silence naming no alert silences nothing: refused, with the nearest name when one is close. */
function unknownAlert(name: string): string {
  const [best] = [...ALERT_NAMES].sort((x, y) => distance(name, x) - distance(name, y));
  const hint = best && distance(name, best) <= 3 ? ` (did you mean "${best}"?)` : "";
  // The config loader adds `, got "<name>"`.
  return `not an alert of the collector${hint}: expected one of ${ALERT_NAMES.join(", ")}`;
}

const ratio = z
  .number({ error: "expected a number in 0..1" })
  .min(0, { error: "expected a number in 0..1" })
  .max(1, { error: "expected a number in 0..1" });

/**
 * The collector's own alerting (no Prometheus needed): the seed's three rules evaluated on the
 * fleet's heartbeats, notified to Mattermost incoming webhooks and generic webhooks. The webhook
 * URLs are secrets (env or file): a Mattermost hook URL lets anyone post to the channel.
 */
export const alertsConfig = z
  .strictObject({
    /** How often the rules are evaluated. */
    evaluateMs: int(500, 300_000).default(5000),
    /** Linked from every notification (the fleet page as users reach it). */
    pageUrl: httpUrl.optional(),
    /** An alert still firing is notified again this often. */
    repeatMs: int(60_000, 7 * 86_400_000).default(4 * 3_600_000),
    /** P0 gateway down: a gateway (role gateway) unhealthy (a critical probe fails) or stale for this long. */
    gatewayDownForMs: int(0, 3_600_000).default(0),
    /** P1 agent down: any other agent unhealthy or stale for this long (rules.yml: ClawguardAgentDown, for 30s). */
    agentDownForMs: int(0, 3_600_000).default(30_000),
    /** P1: the share of an agent's LLM calls that failed (rules.ts ERROR_RATE_CLASSES) over windowMs. */
    errorRate: z
      .strictObject({
        threshold: ratio.default(0.05),
        windowMs: int(10_000, 3_600_000).default(300_000),
        /** Fewer calls than this in the window: no verdict (two calls, one failed, is not 50 %). */
        minCalls: int(1, 1_000_000).default(20),
        /**
         * A firing error-rate or latency alert resolves only once its condition has been false this
         * long (one window that dips under the threshold is not a recovery).
         */
        resolveForMs: int(0, 3_600_000).default(120_000),
      })
      .prefault({}),
    /** P2: the 95th percentile of an agent's LLM call duration over errorRate.windowMs. */
    latencyP95Seconds: z.number().positive().max(3600).default(30),
    /** P2: the share of input tokens read from the provider's cache under this (the seed's 3B-1 target). */
    cacheHitTarget: ratio.default(0.7),
    /** P2: more events than this waiting in an agent's spool for spoolBacklogForMs. */
    spoolBacklogMax: int(1, 100_000_000).default(1000),
    spoolBacklogForMs: int(0, 86_400_000).default(600_000),
    /** P2: a role's live agents running different configs for this long. */
    driftForMs: int(0, 86_400_000).default(600_000),
    /** P1: a failover performed (route switched) or held is alerted on for this long after it. */
    failoverWindowMs: int(60_000, 86_400_000).default(900_000),
    /**
     * Notifications grouped per rule (group.ts): one Mattermost post per rule lists its agents. A
     * group's first post waits waitMs (0: sent at the evaluation that fires it), the next ones wait
     * until intervalMs (by the rule's severity, as alertmanager.yml's routes) has passed since the
     * last; a post lists maxAgents agents, then "+K more".
     */
    group: z
      .strictObject({
        waitMs: int(0, 600_000).default(0),
        intervalMs: z
          .strictObject({
            P0: int(1000, 86_400_000).default(10_000),
            P1: int(1000, 86_400_000).default(60_000),
            P2: int(1000, 86_400_000).default(300_000),
          })
          .prefault({}),
        maxAgents: int(1, 200).default(20),
      })
      .refine((g) => g.waitMs <= Math.min(g.intervalMs.P0, g.intervalMs.P1, g.intervalMs.P2), {
        error:
          "waitMs: expected at most every intervalMs (a group waits for its first post no longer than between posts)",
      })
      .prefault({}),
    /** Alerts not notified until a time (maintenance): by alert name, agent, or both. */
    silences: z
      .array(
        z.strictObject({
          alert: z
            .string()
            .min(1)
            .max(64)
            .refine((v) => (ALERT_NAMES as readonly string[]).includes(v), {
              error: (issue) => unknownAlert(String(issue.input)),
            })
            .optional(),
          agent: z.string().min(1).max(200).optional(),
          until: z.iso.datetime({ offset: true, error: "expected an RFC 3339 time" }),
          reason: z.string().max(500).optional(),
        }),
      )
      .max(100)
      .default([]),
    mattermost: z
      .array(
        z.strictObject({
          url: secretRef,
          /** Overrides the webhook's channel (when the webhook allows it). */
          channel: z.string().min(1).max(64).optional(),
        }),
      )
      .max(10)
      .default([]),
    /** Generic webhooks: a JSON POST of {status, alert, severity, agent, summary, startsAt, endsAt}. */
    webhooks: z
      .array(z.strictObject({ url: secretRef }))
      .max(10)
      .default([]),
  })
  .prefault({});

export type AlertsConfig = z.output<typeof alertsConfig>;
