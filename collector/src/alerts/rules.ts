import { LATENCY_BUCKETS_S, type SidecarStats } from "@clawguard/shared/stats";
import type { FleetAgent, FleetView } from "../fleet/index.ts";
import type { AlertsConfig } from "./config.ts";

export type Severity = "P0" | "P1" | "P2";

/** The collector's alerts, by name (a silence names one of them). */
export const ALERT_NAMES = [
  "gateway_down",
  "agent_down",
  "llm_error_rate",
  "llm_latency",
  "provider_auth",
  "prompt_cache_low",
  "spool_backlog",
  "config_drift",
  "memory_oversize",
  "failover",
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

/** An alert whose condition holds now (before its `for`). */
export interface Condition {
  /** alert name + agent: one alert per rule and agent. */
  key: string;
  alert: AlertName;
  severity: Severity;
  agent: string;
  role: string;
  summary: string;
  /** How long the condition must hold before the alert fires. */
  forMs: number;
  /** How long the condition must be gone before a firing alert resolves (none: at once). */
  resolveForMs?: number;
}

/** What an agent's counters said at one evaluation (the deltas between two make the rates). */
export interface Sample {
  at: number;
  calls: number;
  failed: number;
  /** Calls the provider (auth) or a proxy (intermediary) refused the credential of. */
  authFailed: number;
  inputTokens: number;
  cacheReadTokens: number;
  buckets: number[];
  count: number;
}

/**
 * The error classes the error-rate rule counts (the issue's "400/5xx"): a 400 (overflow, and the
 * other 4xx of client_error), a 5xx (server_error) and no answer (network). Not 401/403/407 (auth,
 * intermediary: the provider_auth alert), not 429 (rate_limited: the provider's pacing), not a
 * call the client gave up (aborted).
 */
export const ERROR_RATE_CLASSES = ["overflow", "client_error", "server_error", "network"] as const;

export function sampleOf(stats: SidecarStats | undefined, at: number): Sample {
  const sample: Sample = {
    at,
    calls: 0,
    failed: 0,
    authFailed: 0,
    inputTokens: 0,
    cacheReadTokens: 0,
    buckets: LATENCY_BUCKETS_S.map(() => 0),
    count: 0,
  };
  for (const s of stats?.llm ?? []) {
    sample.authFailed += (s.errors.auth ?? 0) + (s.errors.intermediary ?? 0);
    for (const cls of ERROR_RATE_CLASSES) sample.failed += s.errors[cls] ?? 0;
    sample.inputTokens += s.inputTokens;
    sample.cacheReadTokens += s.cacheReadTokens;
    for (const n of Object.values(s.calls)) sample.calls += n ?? 0;
    s.latency.buckets.forEach((n, i) => {
      sample.buckets[i] = (sample.buckets[i] ?? 0) + n;
    });
    sample.count += s.latency.count;
  }
  return sample;
}

/** A sample's counters summed with another's (a counter reset carries what came before). */
export function addSamples(a: Sample, b: Sample, at: number): Sample {
  return {
    at,
    calls: a.calls + b.calls,
    failed: a.failed + b.failed,
    authFailed: a.authFailed + b.authFailed,
    inputTokens: a.inputTokens + b.inputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    buckets: a.buckets.map((n, i) => n + (b.buckets[i] ?? 0)),
    count: a.count + b.count,
  };
}

/** Whether any counter went down from `before` to `after`: the sidecar restarted. */
export function isReset(before: Sample, after: Sample): boolean {
  return (
    after.calls < before.calls ||
    after.failed < before.failed ||
    after.authFailed < before.authFailed ||
    after.inputTokens < before.inputTokens ||
    after.cacheReadTokens < before.cacheReadTokens ||
    after.count < before.count
  );
}

/**
 * The 95th percentile from cumulative bucket deltas, interpolated within its bucket as PromQL's
 * histogram_quantile does; above the last bound: that bound (Infinity when every call is above it).
 */
export function p95(buckets: number[], count: number): number {
  const rank = 0.95 * count;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
    const upper = LATENCY_BUCKETS_S[i] as number;
    const n = buckets[i] ?? 0;
    if (n >= rank) return lower + (upper - lower) * ((rank - below) / Math.max(1, n - below));
    lower = upper;
    below = n;
  }
  return Number.POSITIVE_INFINITY;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The rules on one agent: its state now, and its LLM calls between `from` (windowMs ago) and `to`. */
export function conditionsOf(
  agent: FleetAgent,
  from: Sample | undefined,
  to: Sample,
  config: AlertsConfig,
): Condition[] {
  const base = { agent: agent.agent, role: agent.role };
  const out: Condition[] = [];
  const state = agent.stale ? "stale" : agent.state;
  const why = `${state}${agent.reasons.length > 0 ? `: ${agent.reasons.slice(0, 3).join("; ")}` : ""}`;
  // A gateway down is the seed's P0; any other agent down is P1 (as rules.yml's ClawguardAgentDown).
  if ((state === "unhealthy" || state === "stale") && agent.role === "gateway")
    out.push({
      ...base,
      key: `gateway_down:${agent.agent}`,
      alert: "gateway_down",
      severity: "P0",
      forMs: config.gatewayDownForMs,
      summary: `gateway ${agent.agent} is down (${why})`,
    });
  else if (state === "unhealthy" || state === "stale")
    out.push({
      ...base,
      key: `agent_down:${agent.agent}`,
      alert: "agent_down",
      severity: "P1",
      forMs: config.agentDownForMs,
      summary: `${agent.agent} (${agent.role}) is down (${why})`,
    });
  if (!from || to.calls < from.calls) return out; // no window yet, or the sidecar restarted
  const calls = to.calls - from.calls;
  const failed = to.failed - from.failed;
  const { threshold, minCalls } = config.errorRate;
  if (calls >= minCalls && failed / calls > threshold)
    out.push({
      ...base,
      key: `llm_error_rate:${agent.agent}`,
      alert: "llm_error_rate",
      severity: "P1",
      forMs: 0,
      resolveForMs: config.errorRate.resolveForMs,
      summary: `${agent.agent}: ${pct(failed / calls)} of LLM calls failed (400/5xx/network), ${failed} of ${calls} (threshold ${pct(threshold)})`,
    });
  const count = to.count - from.count;
  const latency = p95(
    to.buckets.map((n, i) => n - (from.buckets[i] ?? 0)),
    count,
  );
  if (count >= minCalls && latency > config.latencyP95Seconds)
    out.push({
      ...base,
      key: `llm_latency:${agent.agent}`,
      alert: "llm_latency",
      severity: "P2",
      forMs: 0,
      resolveForMs: config.errorRate.resolveForMs,
      summary: `${agent.agent}: p95 LLM latency ${Number.isFinite(latency) ? `${latency.toFixed(1)} s` : `over ${LATENCY_BUCKETS_S.at(-1)} s`} (threshold ${config.latencyP95Seconds} s)`,
    });
  return out;
}

/** Input tokens in the window below which the cache hit ratio says nothing. */
const MIN_CACHE_TOKENS = 10_000;

/** The fleet rules beside the seed's three: provider auth, prompt cache, spool backlog. */
export function moreConditionsOf(
  agent: FleetAgent,
  from: Sample | undefined,
  to: Sample,
  config: AlertsConfig,
): Condition[] {
  const base = { agent: agent.agent, role: agent.role, forMs: 0 };
  const out: Condition[] = [];
  const backlog = agent.stats?.spoolBacklog ?? 0;
  if (!agent.stale && backlog > config.spoolBacklogMax)
    out.push({
      ...base,
      key: `spool_backlog:${agent.agent}`,
      alert: "spool_backlog",
      severity: "P2",
      forMs: config.spoolBacklogForMs,
      summary: `${agent.agent}: ${backlog} audit events not shipped (over ${config.spoolBacklogMax})`,
    });
  const oversize = agent.stats?.memoryOversize ?? 0;
  if (!agent.stale && oversize > 0)
    out.push({
      ...base,
      key: `memory_oversize:${agent.agent}`,
      alert: "memory_oversize",
      severity: "P2",
      summary: `${agent.agent}: ${oversize} memory file(s) over their limit${agent.reasons.find((r) => / is \d+ (bytes|chars), over /.test(r)) ? `: ${agent.reasons.find((r) => / is \d+ (bytes|chars), over /.test(r))}` : ""}`,
    });
  if (!from || to.calls < from.calls) return out;
  const refused = to.authFailed - from.authFailed;
  if (refused > 0)
    out.push({
      ...base,
      key: `provider_auth:${agent.agent}`,
      alert: "provider_auth",
      severity: "P1",
      summary: `${agent.agent}: ${refused} LLM call(s) refused for the credential (by the provider or a proxy)`,
    });
  const input = to.inputTokens - from.inputTokens;
  const ratio = input > 0 ? (to.cacheReadTokens - from.cacheReadTokens) / input : 1;
  if (input >= MIN_CACHE_TOKENS && ratio < config.cacheHitTarget)
    out.push({
      ...base,
      key: `prompt_cache_low:${agent.agent}`,
      alert: "prompt_cache_low",
      severity: "P2",
      summary: `${agent.agent}: prompt cache hit ratio ${pct(ratio)} (target ${pct(config.cacheHitTarget)})`,
    });
  return out;
}

/** Roles whose live agents run different configs. */
export function driftConditions(drift: FleetView["drift"], config: AlertsConfig): Condition[] {
  return drift.map((d) => ({
    key: `config_drift:${d.role}`,
    alert: "config_drift",
    severity: "P2",
    agent: Object.values(d.fingerprints).flat().join(",").slice(0, 200),
    role: d.role,
    forMs: config.driftForMs,
    summary: `role ${d.role}: ${Object.keys(d.fingerprints).length} different configs${d.keys.length > 0 ? ` (${d.keys.slice(0, 5).join(", ")})` : ""}`,
  }));
}

/** What the failover controller did lately (from the incident timelines). */
export interface RecentAction {
  agent: string;
  role: string;
  action: string;
  at: string;
}

const HELD = new Set(["failover-held", "failover-stalled", "budget-spent"]);

/** A failover performed (route-switched) or held, for as long as it is recent (config.failoverWindowMs). */
export function failoverConditions(actions: readonly RecentAction[]): Condition[] {
  return actions.map((a) => ({
    key: `failover:${a.agent}:${a.action}`,
    alert: "failover",
    severity: "P1",
    agent: a.agent,
    role: a.role,
    forMs: 0,
    summary: HELD.has(a.action)
      ? `${a.agent}: failover ${a.action} at ${a.at} (see clawguard incidents --agent ${a.agent})`
      : `${a.agent}: failed over (${a.action}) at ${a.at}`,
  }));
}

const AGAIN: Record<Condition["alert"], (a: Condition) => string> = {
  gateway_down: (a) => `gateway ${a.agent} is up again`,
  agent_down: (a) => `${a.agent} (${a.role}) is up again`,
  llm_error_rate: (a) => `${a.agent}: LLM error rate back under the threshold`,
  llm_latency: (a) => `${a.agent}: p95 LLM latency back under the threshold`,
  provider_auth: (a) => `${a.agent}: no LLM call refused for the credential lately`,
  prompt_cache_low: (a) =>
    `${a.agent}: prompt cache hit ratio back at the target (or too few tokens to tell)`,
  spool_backlog: (a) => `${a.agent}: audit events shipped again (backlog under the limit)`,
  config_drift: (a) => `role ${a.role}: its agents run one config again`,
  memory_oversize: (a) => `${a.agent}: no memory file over its limit`,
  failover: (a) => `${a.agent}: the failover is no longer recent`,
};

/** "3 min 20 s", "45 s", "2 h 5 min". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h${Math.floor(s / 60) % 60 ? ` ${Math.floor(s / 60) % 60} min` : ""}`;
}

/**
 * A resolution's summary: what holds now and since when, and how long the alert held (a resolve
 * that repeated the firing text, "gateway gw1 is down (...)", contradicted its own status).
 */
export function resolvedSummary(a: Condition & { since: number }, clearedAt: number): string {
  const held = a.alert === "gateway_down" || a.alert === "agent_down" ? "down" : "firing";
  return `${AGAIN[a.alert](a)} since ${new Date(clearedAt).toISOString()} (${held} for ${duration(clearedAt - a.since)})`;
}

/**
 * The fleet's agents, an agent known only from the store (after a restart that lost the live
 * records: role "unknown") given the role its alerts had: a gateway down stays gateway_down (P0),
 * not a new agent_down of role "unknown".
 */
export function withKnownRoles(agents: readonly FleetAgent[], alerts: Iterable<Condition>): FleetAgent[] {
  const roles = new Map<string, string>();
  for (const a of alerts) if (a.role !== "unknown" && a.alert !== "config_drift") roles.set(a.agent, a.role);
  return agents.map((a) =>
    a.role === "unknown" && roles.has(a.agent) ? { ...a, role: roles.get(a.agent) as string } : a,
  );
}
