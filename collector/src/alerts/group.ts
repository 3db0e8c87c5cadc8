import type { AlertsConfig } from "./config.ts";
import type { Notice } from "./notify.ts";

/**
 * Notifications grouped per rule, as Alertmanager groups by alertname: the notices of one rule wait
 * in its group and go out together, one Mattermost post listing the agents. A group's first
 * notification waits `group.waitMs` (to gather the agents that follow within it); after a post, the
 * next one waits until `group.intervalMs` (by severity: P0 10 s, P1 1 min, P2 5 min) has passed since
 * it. So a thousand agents crossing a threshold over a few evaluations make one post per rule and
 * interval, not one per agent.
 */
export interface Group {
  /** When this group was last posted (ms). */
  sentAt?: number;
  /** When its oldest waiting notice came (ms). */
  firstAt?: number;
  /** What waits, by alert key (one notice per alert: the latest). */
  pending: { key: string; notice: Notice }[];
}

/** Notices one group holds at most (a rule over every agent of a large fleet, twice). */
export const MAX_PENDING = 10_000;

/**
 * Adds a notice to its group. A newer notice of the same alert replaces the one waiting (a resolve
 * replaces the firing it ends: the channel learns both from the resolve's start and end); past
 * MAX_PENDING the oldest goes, and the count of those dropped is returned.
 */
export function enqueue(group: Group, key: string, notice: Notice, now: number): number {
  const at = group.pending.findIndex((p) => p.key === key);
  if (at >= 0) group.pending.splice(at, 1);
  if (group.pending.length === 0) group.firstAt = now;
  group.pending.push({ key, notice });
  const over = group.pending.length - MAX_PENDING;
  if (over > 0) group.pending.splice(0, over);
  return Math.max(0, over);
}

type GroupConfig = AlertsConfig["group"];
/** A group's interval: its rule's severity's (every notice of a rule has the rule's severity). */
const intervalOf = (group: Group, config: GroupConfig) =>
  config.intervalMs[group.pending[0]?.notice.severity ?? "P0"];

/** When the group is to be posted: none while nothing waits. */
export function dueAt(group: Group, config: GroupConfig): number | undefined {
  if (group.pending.length === 0) return undefined;
  const wait = (group.firstAt ?? 0) + config.waitMs;
  return group.sentAt === undefined ? wait : Math.max(wait, group.sentAt + intervalOf(group, config));
}

/** Whether a group holds nothing worth keeping (nothing waits, its last post the longest interval ago). */
export function spent(group: Group, now: number, config: GroupConfig): boolean {
  const longest = Math.max(config.intervalMs.P0, config.intervalMs.P1, config.intervalMs.P2);
  return group.pending.length === 0 && (group.sentAt === undefined || now - group.sentAt >= longest);
}
