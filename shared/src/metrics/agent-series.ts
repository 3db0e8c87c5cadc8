import { LATENCY_BUCKETS_S, type LlmSeries, type SidecarStats } from "../stats.ts";

/**
 * The per-agent series of /metrics (`clawguard_agent_*`, `clawguard_llm_*`), in the Prometheus text
 * format: the collector serves them for the whole fleet (from the agents' last heartbeats), each
 * sidecar for its own agent (GET /metrics), with the same names and labels. Labels: agent and role
 * (bounded by the fleet), provider (bounded by the sidecars' config), model (at most MAX_LLM_SERIES
 * per agent, then "other"), probe (bounded by the sidecars' config), file (at most 20 per agent), and
 * closed sets (state, status_class, class, direction).
 */

export type Labels = Record<string, string>;
export interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}
export type MetricType = "gauge" | "counter" | "histogram";

/** What the series read of an agent: its last heartbeat as the collector's fleet view has it. */
export interface AgentSample {
  agent: string;
  role: string;
  state: string;
  stale: boolean;
  probes: readonly { name: string; state: string }[];
  /** When its last heartbeat arrived. */
  lastSeen: string;
  /** Its clock minus the collector's. */
  clockOffset: { offsetMs: number };
  stats?: SidecarStats | undefined;
}

/** What one scrape reads: the agents, once for the whole scrape, and the time. */
export interface SeriesSnapshot {
  view: { agents: readonly AgentSample[] };
  now: number;
}

/** A metric whose samples are computed from the scrape's snapshot. */
export type SeriesDefinition<S extends SeriesSnapshot = SeriesSnapshot> = [
  name: string,
  help: string,
  type: MetricType,
  samples: (s: S) => Sample[],
];

const FLEET_STATES = ["healthy", "degraded", "unhealthy", "unknown", "stale"] as const;

export const agentLabels = (a: AgentSample): Labels => ({ agent: a.agent, role: a.role });
export const stateOf = (a: AgentSample) => (a.stale ? "stale" : a.state);

function perAgent(s: SeriesSnapshot, value: (a: AgentSample) => number | undefined): Sample[] {
  return s.view.agents.flatMap((a) => {
    const v = value(a);
    return v === undefined ? [] : [{ labels: agentLabels(a), value: v }];
  });
}

function perSeries(s: SeriesSnapshot, each: (labels: Labels, series: LlmSeries) => Sample[]): Sample[] {
  return s.view.agents.flatMap((a) =>
    (a.stats?.llm ?? []).flatMap((series) =>
      each({ agent: a.agent, provider: series.provider, model: series.model }, series),
    ),
  );
}

function histogram(name: string, labels: Labels, h: LlmSeries["latency"]): Sample[] {
  return [
    ...LATENCY_BUCKETS_S.map((le, i) => ({
      labels: { ...labels, le: String(le) },
      value: h.buckets[i] ?? 0,
      metricName: `${name}_bucket`,
    })),
    { labels: { ...labels, le: "+Inf" }, value: h.count, metricName: `${name}_bucket` },
    { labels, value: h.sum, metricName: `${name}_sum` },
    { labels, value: h.count, metricName: `${name}_count` },
  ];
}

function agentDefinitions(): SeriesDefinition[] {
  return [
    [
      "clawguard_agent_state",
      "1 for the agent's current state (healthy, degraded, unhealthy, unknown, stale), 0 for the others",
      "gauge",
      (s) =>
        s.view.agents.flatMap((a) =>
          FLEET_STATES.map((state) => ({
            labels: { ...agentLabels(a), state },
            value: stateOf(a) === state ? 1 : 0,
          })),
        ),
    ],
    [
      "clawguard_agent_up",
      "1 while the agent's heartbeats arrive and it is not unhealthy (a failing critical probe: the gateway down)",
      "gauge",
      (s) => perAgent(s, (a) => (stateOf(a) === "stale" || stateOf(a) === "unhealthy" ? 0 : 1)),
    ],
    [
      "clawguard_agent_probe_passing",
      "1 while the probe passes, 0 while it fails (absent while its state is unknown)",
      "gauge",
      (s) =>
        s.view.agents.flatMap((a) =>
          a.probes
            .filter((p) => p.state !== "unknown")
            .map((p) => ({
              labels: { ...agentLabels(a), probe: p.name },
              value: p.state === "passing" ? 1 : 0,
            })),
        ),
    ],
    [
      "clawguard_agent_heartbeat_age_seconds",
      "Seconds since the agent's last heartbeat arrived",
      "gauge",
      (s) => perAgent(s, (a) => Math.max(0, (s.now - Date.parse(a.lastSeen)) / 1000)),
    ],
    [
      "clawguard_agent_clock_offset_seconds",
      "The agent's clock minus the collector's",
      "gauge",
      (s) => perAgent(s, (a) => a.clockOffset.offsetMs / 1000),
    ],
    [
      "clawguard_agent_spool_backlog_events",
      "Events in the sidecar's spool not yet acknowledged by the collector",
      "gauge",
      (s) => perAgent(s, (a) => a.stats?.spoolBacklog),
    ],
    [
      "clawguard_agent_spool_bytes",
      "Bytes of the sidecar's spool",
      "gauge",
      (s) => perAgent(s, (a) => a.stats?.spoolBytes),
    ],
    [
      "clawguard_agent_shipper_failing_seconds",
      "Seconds since the sidecar's shipping to the collector started failing (0 while it works)",
      "gauge",
      (s) => perAgent(s, (a) => a.stats?.shipperFailingSeconds),
    ],
    [
      "clawguard_agent_events_set_aside",
      "Events the sidecar set aside: refused by the collector (dead letters) or quarantined from a damaged spool",
      "gauge",
      (s) => perAgent(s, (a) => a.stats?.setAside),
    ],
    [
      "clawguard_agent_memory_file_bytes",
      "Size of each watched memory file (those changed since the sidecar started; at most 20 per agent)",
      "gauge",
      (s) =>
        s.view.agents.flatMap((a) =>
          Object.entries(a.stats?.memoryBytes ?? {}).map(([file, value]) => ({
            labels: { ...agentLabels(a), file },
            value,
          })),
        ),
    ],
    [
      "clawguard_agent_memory_oversize_files",
      "Memory files over their limit (the daily log limit, the bootstrap cap)",
      "gauge",
      (s) => perAgent(s, (a) => a.stats?.memoryOversize),
    ],
    ...(["runs", "spills", "denials", "failures"] as const).map(
      (kind): SeriesDefinition => [
        `clawguard_agent_exec_${kind}_total`,
        `Commands the exec guard ${kind === "runs" ? "ran" : kind === "spills" ? "spilled to a file (output too long)" : kind === "denials" ? "refused by policy" : "failed to run"}`,
        "counter",
        (s) => perAgent(s, (a) => a.stats?.exec[kind]),
      ],
    ),
  ];
}

function llmDefinitions(): SeriesDefinition[] {
  return [
    [
      "clawguard_llm_calls_total",
      "LLM calls through the sidecar's guard, by the provider's status class (none: no answer)",
      "counter",
      (s) =>
        perSeries(s, (labels, series) =>
          Object.entries(series.calls).map(([status_class, value]) => ({
            labels: { ...labels, status_class },
            value,
          })),
        ),
    ],
    [
      "clawguard_llm_errors_total",
      "Failed LLM calls by class (overflow, auth, intermediary, rate_limited, server_error, network, client_error, aborted, other)",
      "counter",
      (s) =>
        perSeries(s, (labels, series) =>
          Object.entries(series.errors).map(([cls, value]) => ({ labels: { ...labels, class: cls }, value })),
        ),
    ],
    [
      "clawguard_llm_duration_seconds",
      "LLM call duration (to the last byte)",
      "histogram",
      (s) =>
        perSeries(s, (labels, series) => histogram("clawguard_llm_duration_seconds", labels, series.latency)),
    ],
    [
      "clawguard_llm_ttft_seconds",
      "Time to the first chunk of a streamed LLM answer",
      "histogram",
      (s) => perSeries(s, (labels, series) => histogram("clawguard_llm_ttft_seconds", labels, series.ttft)),
    ],
    [
      "clawguard_llm_tokens_total",
      "Tokens the provider reported: input (cache reads included), output, cache_read",
      "counter",
      (s) =>
        perSeries(s, (labels, series) => [
          { labels: { ...labels, direction: "input" }, value: series.inputTokens },
          { labels: { ...labels, direction: "output" }, value: series.outputTokens },
          { labels: { ...labels, direction: "cache_read" }, value: series.cacheReadTokens },
        ]),
    ],
  ];
}

/** The per-agent series, in the order /metrics lists them. */
export const AGENT_SERIES: readonly SeriesDefinition[] = [...agentDefinitions(), ...llmDefinitions()];

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const escapeText = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (value: string) => escapeText(value).replace(/"/g, '\\"');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return String(value);
}

/** One metric's block: its HELP and TYPE lines and a line per sample. */
function block(name: string, help: string, type: MetricType, samples: Sample[]): string {
  const lines = [`# HELP ${name} ${escapeText(help)}`, `# TYPE ${name} ${type}`];
  for (const { labels, value, metricName = name } of samples) {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    lines.push(`${metricName}${pairs.length ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}`);
  }
  return lines.join("\n");
}

/** The Prometheus text exposition of `definitions` for one snapshot (what a sidecar's /metrics serves). */
export function renderSeries<S extends SeriesSnapshot>(
  definitions: readonly SeriesDefinition<S>[],
  snapshot: S,
): string {
  return `${definitions.map(([name, help, type, samples]) => block(name, help, type, samples(snapshot))).join("\n\n")}\n`;
}
