import { LATENCY_BUCKETS_S, type SidecarStats } from "@clawguard/shared/stats";
import type { FleetAgent } from "../fleet/index.ts";
import type { AlertsConfig } from "./config.ts";

export type Severity = "P0" | "P1" | "P2";

/** An alert whose condition holds now (before its `for`). */
export interface Condition {
  /** alert name + agent: one alert per rule and agent. */
  key: string;
  alert: "gateway_down" | "llm_error_rate" | "llm_latency";
  severity: Severity;
  agent: string;
  role: string;
  summary: string;
  /** How long the condition must hold before the alert fires. */
  forMs: number;
}

/** What an agent's counters said at one evaluation (the deltas between two make the rates). */
export interface Sample {
  at: number;
  calls: number;
  failed: number;
  buckets: number[];
  count: number;
}

export function sampleOf(stats: SidecarStats | undefined, at: number): Sample {
  const sample: Sample = { at, calls: 0, failed: 0, buckets: LATENCY_BUCKETS_S.map(() => 0), count: 0 };
  for (const s of stats?.llm ?? []) {
    for (const [cls, n] of Object.entries(s.calls)) {
      sample.calls += n ?? 0;
      if (cls === "4xx" || cls === "5xx") sample.failed += n ?? 0;
    }
    s.latency.buckets.forEach((n, i) => {
      sample.buckets[i] = (sample.buckets[i] ?? 0) + n;
    });
    sample.count += s.latency.count;
  }
  return sample;
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
  if (state === "unhealthy" || state === "stale")
    out.push({
      ...base,
      key: `gateway_down:${agent.agent}`,
      alert: "gateway_down",
      severity: "P0",
      forMs: config.gatewayDownForMs,
      summary: `gateway ${agent.agent} is down (${state}${agent.reasons.length > 0 ? `: ${agent.reasons.slice(0, 3).join("; ")}` : ""})`,
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
      summary: `${agent.agent}: ${pct(failed / calls)} of LLM calls failed (400/5xx), ${failed} of ${calls} (threshold ${pct(threshold)})`,
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
      summary: `${agent.agent}: p95 LLM latency ${Number.isFinite(latency) ? `${latency.toFixed(1)} s` : `over ${LATENCY_BUCKETS_S.at(-1)} s`} (threshold ${config.latencyP95Seconds} s)`,
    });
  return out;
}
