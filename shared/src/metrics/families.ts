import { LATENCY_BUCKETS_S, type LlmSeries, type SidecarStats } from "../stats.ts";
import type { Family, Labels, Sample } from "./exposition.ts";
import { labelValue } from "./label.ts";

/**
 * The per-agent series of /metrics (`clawguard_agent_*`, `clawguard_llm_*`), one definition for
 * both processes: the collector writes them for the whole fleet (from the agents' last heartbeats,
 * bounded first: collector/src/metrics/bound.ts), each sidecar for its own agent (its GET /metrics),
 * with the same names, labels and help. Labels: agent and role (bounded by the fleet), provider and
 * model (at most MAX_LLM_SERIES pairs an agent, then "other"), probe (bounded by the sidecars'
 * config), file (at most MAX_MEMORY_FILES an agent), and closed sets (state, status_class, class,
 * direction, le). Provider, model, file and probe values are cut to MAX_LABEL_CHARS with a hash
 * (label.ts), here, so that a sidecar's own /metrics is bounded as the collector's is.
 */

/**
 * What the series read of an agent: the collector's fleet view of it (its FleetAgent: the last
 * heartbeat), or what a sidecar knows of its own agent now.
 */
export interface AgentSample {
  agent: string;
  role: string;
  state: string;
  stale: boolean;
  probes: readonly { name: string; state: string }[];
  /** When its last heartbeat arrived (a sidecar: now). */
  lastSeen: string;
  /** Its clock minus the collector's. */
  clockOffset: { offsetMs: number };
  stats?: SidecarStats | undefined;
}

/** A family of the per-agent series: it reads one agent and the render's time. */
export type AgentFamily = Family<AgentSample>;

const FLEET_STATES = ["healthy", "degraded", "unhealthy", "unknown", "stale"] as const;

const agentLabels = (a: AgentSample): Labels => ({ agent: a.agent, role: a.role });
const stateOf = (a: AgentSample) => (a.stale ? "stale" : a.state);
const one = (a: AgentSample, value: number | undefined): Sample[] =>
  value === undefined ? [] : [{ labels: agentLabels(a), value }];

function perSeries(a: AgentSample, each: (labels: Labels, series: LlmSeries) => Sample[]): Sample[] {
  return (a.stats?.llm ?? []).flatMap((series) =>
    each({ agent: a.agent, provider: labelValue(series.provider), model: labelValue(series.model) }, series),
  );
}

function histogram(labels: Labels, h: LlmSeries["latency"]): Sample[] {
  return [
    ...LATENCY_BUCKETS_S.map((le, i) => ({
      labels: { ...labels, le: String(le) },
      value: h.buckets[i] ?? 0,
      suffix: "_bucket",
    })),
    { labels: { ...labels, le: "+Inf" }, value: h.count, suffix: "_bucket" },
    { labels, value: h.sum, suffix: "_sum" },
    { labels, value: h.count, suffix: "_count" },
  ];
}

const gauge = (name: string, help: string, agent: AgentFamily["agent"]): AgentFamily => ({
  name,
  help,
  type: "gauge",
  agent,
});

const EXEC_HELP = {
  runs: "ran",
  spills: "spilled to a file (output too long)",
  denials: "refused by policy",
  failures: "failed to run",
} as const;

export function agentFamilies(): AgentFamily[] {
  return [
    gauge(
      "clawguard_agent_state",
      "1 for the agent's current state (healthy, degraded, unhealthy, unknown, stale), 0 for the others",
      (a) =>
        FLEET_STATES.map((state) => ({
          labels: { ...agentLabels(a), state },
          value: stateOf(a) === state ? 1 : 0,
        })),
    ),
    gauge(
      "clawguard_agent_up",
      "1 while the agent's heartbeats arrive and it is not unhealthy (a failing critical probe: the gateway down)",
      (a) => one(a, stateOf(a) === "stale" || stateOf(a) === "unhealthy" ? 0 : 1),
    ),
    gauge(
      "clawguard_agent_probe_passing",
      "1 while the probe passes, 0 while it fails (absent while its state is unknown; on the collector, an agent's first metrics.probesPerAgent)",
      (a) =>
        a.probes
          .filter((p) => p.state !== "unknown")
          .map((p) => ({
            labels: { ...agentLabels(a), probe: labelValue(p.name) },
            value: p.state === "passing" ? 1 : 0,
          })),
    ),
    gauge(
      "clawguard_agent_heartbeat_age_seconds",
      "Seconds since the agent's last heartbeat arrived",
      (a, s) => one(a, Math.max(0, (s.now - Date.parse(a.lastSeen)) / 1000)),
    ),
    gauge("clawguard_agent_clock_offset_seconds", "The agent's clock minus the collector's", (a) =>
      one(a, a.clockOffset.offsetMs / 1000),
    ),
    gauge(
      "clawguard_agent_spool_backlog_events",
      "Events in the sidecar's spool not yet acknowledged by the collector",
      (a) => one(a, a.stats?.spoolBacklog),
    ),
    gauge("clawguard_agent_spool_bytes", "Bytes of the sidecar's spool", (a) => one(a, a.stats?.spoolBytes)),
    gauge(
      "clawguard_agent_shipper_failing_seconds",
      "Seconds since the sidecar's shipping to the collector started failing (0 while it works)",
      (a) => one(a, a.stats?.shipperFailingSeconds),
    ),
    gauge(
      "clawguard_agent_events_set_aside",
      "Events the sidecar set aside: refused by the collector (dead letters) or quarantined from a damaged spool",
      (a) => one(a, a.stats?.setAside),
    ),
    gauge(
      "clawguard_agent_memory_file_bytes",
      "Size of each watched memory file (changed since the sidecar started; on the collector, an agent's metrics.memoryFilesPerAgent largest)",
      (a) =>
        Object.entries(a.stats?.memoryBytes ?? {}).map(([file, value]) => ({
          labels: { ...agentLabels(a), file: labelValue(file) },
          value,
        })),
    ),
    gauge(
      "clawguard_agent_memory_oversize_files",
      "Memory files over their limit (the daily log limit, the bootstrap cap)",
      (a) => one(a, a.stats?.memoryOversize),
    ),
    ...(["runs", "spills", "denials", "failures"] as const).map(
      (kind): AgentFamily => ({
        name: `clawguard_agent_exec_${kind}_total`,
        help: `Commands the exec guard ${EXEC_HELP[kind]}`,
        type: "counter",
        agent: (a) => one(a, a.stats?.exec[kind]),
      }),
    ),
  ];
}

export function llmFamilies(): AgentFamily[] {
  return [
    {
      name: "clawguard_llm_calls_total",
      help: "LLM calls through the sidecar's guard, by the provider's status class (none: no answer)",
      type: "counter",
      agent: (a) =>
        perSeries(a, (labels, series) =>
          Object.entries(series.calls).map(([status_class, value]) => ({
            labels: { ...labels, status_class },
            value: value ?? 0,
          })),
        ),
    },
    {
      name: "clawguard_llm_errors_total",
      help: "Failed LLM calls by class (overflow, auth, intermediary, rate_limited, server_error, network, client_error, aborted, other)",
      type: "counter",
      agent: (a) =>
        perSeries(a, (labels, series) =>
          Object.entries(series.errors).map(([cls, value]) => ({
            labels: { ...labels, class: cls },
            value: value ?? 0,
          })),
        ),
    },
    {
      name: "clawguard_llm_duration_seconds",
      help: "LLM call duration (to the last byte)",
      type: "histogram",
      agent: (a) => perSeries(a, (labels, series) => histogram(labels, series.latency)),
    },
    {
      name: "clawguard_llm_ttft_seconds",
      help: "Time to the first chunk of a streamed LLM answer",
      type: "histogram",
      agent: (a) => perSeries(a, (labels, series) => histogram(labels, series.ttft)),
    },
    {
      name: "clawguard_llm_tokens_total",
      help: "Tokens the provider reported: input (cache reads included), output, cache_read",
      type: "counter",
      agent: (a) =>
        perSeries(a, (labels, series) => [
          { labels: { ...labels, direction: "input" }, value: series.inputTokens },
          { labels: { ...labels, direction: "output" }, value: series.outputTokens },
          { labels: { ...labels, direction: "cache_read" }, value: series.cacheReadTokens },
        ]),
    },
  ];
}

/** The per-agent series, in the order /metrics lists them. */
export const AGENT_FAMILIES: readonly AgentFamily[] = [...agentFamilies(), ...llmFamilies()];
