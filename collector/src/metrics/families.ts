import { LATENCY_BUCKETS_S, type LlmSeries } from "@clawguard/shared/stats";
import type { FleetAgent, FleetView } from "../fleet/index.ts";
import type { Capped } from "./bound.ts";
import type { Labels, Sample } from "./exposition.ts";

/** What one render reads once: the fleet (bounded) and the store. */
export interface Snapshot {
  now: number;
  drift: FleetView["drift"];
  /** Agents with open incidents that the fleet no longer lists. */
  openIncidents: Map<string, number>;
  actions: Map<string, number>;
  leases: Map<string, number>;
  capped: Capped;
}

/**
 * One metric family: its samples per agent (written agent by agent, the event loop given back in
 * between) and/or fleet-wide.
 */
export interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter" | "histogram";
  agent?: (a: FleetAgent, s: Snapshot) => Sample[];
  fleet?: (s: Snapshot, agents: ReadonlySet<string>) => Sample[];
}

const FLEET_STATES = ["healthy", "degraded", "unhealthy", "unknown", "stale"] as const;

const agentLabels = (a: FleetAgent): Labels => ({ agent: a.agent, role: a.role });
const stateOf = (a: FleetAgent) => (a.stale ? "stale" : a.state);
const one = (a: FleetAgent, value: number | undefined): Sample[] =>
  value === undefined ? [] : [{ labels: agentLabels(a), value }];

function perSeries(a: FleetAgent, each: (labels: Labels, series: LlmSeries) => Sample[]): Sample[] {
  return (a.stats?.llm ?? []).flatMap((series) =>
    each({ agent: a.agent, provider: series.provider, model: series.model }, series),
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

const gauge = (name: string, help: string, agent: Family["agent"]): Family => ({
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

export function agentFamilies(): Family[] {
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
      "1 while the probe passes, 0 while it fails (absent while its state is unknown; an agent's first 20 probes)",
      (a) =>
        a.probes
          .filter((p) => p.state !== "unknown")
          .map((p) => ({
            labels: { ...agentLabels(a), probe: p.name },
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
      "Size of each watched memory file (changed since the sidecar started; an agent's 10 largest)",
      (a) =>
        Object.entries(a.stats?.memoryBytes ?? {}).map(([file, value]) => ({
          labels: { ...agentLabels(a), file },
          value,
        })),
    ),
    gauge(
      "clawguard_agent_memory_oversize_files",
      "Memory files over their limit (the daily log limit, the bootstrap cap)",
      (a) => one(a, a.stats?.memoryOversize),
    ),
    ...(["runs", "spills", "denials", "failures"] as const).map(
      (kind): Family => ({
        name: `clawguard_agent_exec_${kind}_total`,
        help: `Commands the exec guard ${EXEC_HELP[kind]}`,
        type: "counter",
        agent: (a) => one(a, a.stats?.exec[kind]),
      }),
    ),
  ];
}

export function llmFamilies(): Family[] {
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

export function fleetFamilies(): Family[] {
  return [
    {
      name: "clawguard_config_drift",
      help: "1 for a role whose live agents report different config fingerprints",
      type: "gauge",
      fleet: (s) => s.drift.map((d) => ({ labels: { role: d.role }, value: 1 })),
    },
    {
      name: "clawguard_incidents_open",
      help: "Open incidents, by agent",
      type: "gauge",
      agent: (a, s) => [{ labels: { agent: a.agent }, value: s.openIncidents.get(a.agent) ?? 0 }],
      fleet: (s, listed) =>
        [...s.openIncidents]
          .filter(([agent]) => !listed.has(agent))
          .map(([agent, value]) => ({ labels: { agent }, value })),
    },
    {
      name: "clawguard_controller_actions_total",
      help: "What the failover controller did (restart, fence, route-switched, hold, ...), from the incident timelines",
      type: "counter",
      fleet: (s) => [...s.actions].map(([action, value]) => ({ labels: { action }, value })),
    },
    {
      name: "clawguard_controller_lease_token",
      help: "The newest fencing token granted for the controller's lease (it grows at each change of leader)",
      type: "gauge",
      fleet: (s) => [...s.leases].map(([lease, value]) => ({ labels: { lease }, value })),
    },
    {
      name: "clawguard_metrics_capped",
      help: "What this /metrics gave no series of its own at the last render (metrics.* limits): agents beyond metrics.maxAgents, provider/model pairs added up as other, memory files and probes left out",
      type: "gauge",
      fleet: (s) => Object.entries(s.capped).map(([kind, value]) => ({ labels: { kind }, value })),
    },
  ];
}
