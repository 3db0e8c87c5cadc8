import { LATENCY_BUCKETS_S, type LlmSeries } from "@clawguard/shared/stats";
import { Counter, Registry } from "prom-client";
import type { FleetAgent, FleetView } from "../fleet/index.ts";
import type { Db } from "../store/db.ts";

/**
 * The collector's /metrics, in the Prometheus text format, by prom-client. Two kinds of series:
 *
 * - the fleet's (`clawguard_agent_*`, `clawguard_llm_*`): read at each scrape from the agents' last
 *   heartbeats (their `stats`: counters since the sidecar started) and from the store (incidents,
 *   controller actions). Labels: agent and role (bounded by the fleet), provider (bounded by the
 *   sidecars' config), model (at most MAX_LLM_SERIES per agent, then "other"), probe (bounded by the
 *   sidecars' config), file (at most MAX_MEMORY_FILES per agent), and closed sets (state,
 *   status_class, class, direction, action);
 * - the collector's own (`clawguard_ingest_*`, `clawguard_heartbeats_*`, `clawguard_notifications_*`):
 *   prom-client counters kept in this process (per replica; sum them across replicas).
 */

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}
interface Snapshot {
  view: FleetView;
  now: number;
  openIncidents: Map<string, number>;
  actions: Map<string, number>;
  leases: Map<string, number>;
}

const FLEET_STATES = ["healthy", "degraded", "unhealthy", "unknown", "stale"] as const;

/** A metric whose samples are computed from the scrape's snapshot (registered like any prom-client metric). */
class SnapshotMetric {
  readonly name: string;
  readonly help: string;
  readonly type: "gauge" | "counter" | "histogram";
  readonly aggregator = "sum";
  readonly #samples: (s: Snapshot) => Sample[];
  readonly #current: () => Snapshot | undefined;

  constructor(
    name: string,
    help: string,
    type: SnapshotMetric["type"],
    samples: (s: Snapshot) => Sample[],
    current: () => Snapshot | undefined,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#samples = samples;
    this.#current = current;
  }

  get() {
    const snapshot = this.#current();
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: snapshot ? this.#samples(snapshot) : [],
    };
  }
}

const agentLabels = (a: FleetAgent): Labels => ({ agent: a.agent, role: a.role });
const stateOf = (a: FleetAgent) => (a.stale ? "stale" : a.state);

function perAgent(s: Snapshot, value: (a: FleetAgent) => number | undefined): Sample[] {
  return s.view.agents.flatMap((a) => {
    const v = value(a);
    return v === undefined ? [] : [{ labels: agentLabels(a), value: v }];
  });
}

function perSeries(s: Snapshot, each: (labels: Labels, series: LlmSeries) => Sample[]): Sample[] {
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

type Definition = [
  name: string,
  help: string,
  type: SnapshotMetric["type"],
  samples: (s: Snapshot) => Sample[],
];

function agentDefinitions(): Definition[] {
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
      (kind): Definition => [
        `clawguard_agent_exec_${kind}_total`,
        `Commands the exec guard ${kind === "runs" ? "ran" : kind === "spills" ? "spilled to a file (output too long)" : kind === "denials" ? "refused by policy" : "failed to run"}`,
        "counter",
        (s) => perAgent(s, (a) => a.stats?.exec[kind]),
      ],
    ),
    [
      "clawguard_config_drift",
      "1 for a role whose live agents report different config fingerprints",
      "gauge",
      (s) => s.view.drift.map((d) => ({ labels: { role: d.role }, value: 1 })),
    ],
  ];
}

function llmDefinitions(): Definition[] {
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

function storeDefinitions(): Definition[] {
  return [
    [
      "clawguard_incidents_open",
      "Open incidents, by agent",
      "gauge",
      (s) => {
        const agents = new Set([...s.view.agents.map((a) => a.agent), ...s.openIncidents.keys()]);
        return [...agents].map((agent) => ({ labels: { agent }, value: s.openIncidents.get(agent) ?? 0 }));
      },
    ],
    [
      "clawguard_controller_actions_total",
      "What the failover controller did (restart, fence, route-switched, hold, ...), from the incident timelines",
      "counter",
      (s) => [...s.actions].map(([action, value]) => ({ labels: { action }, value })),
    ],
    [
      "clawguard_controller_lease_token",
      "The newest fencing token granted for the controller's lease (it grows at each change of leader)",
      "gauge",
      (s) => [...s.leases].map(([lease, value]) => ({ labels: { lease }, value })),
    ],
  ];
}

async function counts(db: Db, sql: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ key: string; n: string | number }>(sql);
  return new Map(rows.map((r) => [r.key, Number(r.n)]));
}

export class CollectorMetrics {
  readonly registry = new Registry();
  readonly ingestEvents: Counter<"result">;
  readonly ingestBatches: Counter<"status">;
  readonly heartbeats: Counter<"status">;
  readonly notifications: Counter<"channel" | "result">;
  #snapshot: Snapshot | undefined;

  constructor() {
    const current = () => this.#snapshot;
    for (const [name, help, type, samples] of [
      ...agentDefinitions(),
      ...llmDefinitions(),
      ...storeDefinitions(),
    ])
      this.registry.registerMetric(new SnapshotMetric(name, help, type, samples, current) as never);
    const registers = [this.registry];
    this.ingestEvents = new Counter({
      name: "clawguard_ingest_events_total",
      help: "Events received from sidecars by outcome (accepted, duplicate, rejected), this replica",
      labelNames: ["result"],
      registers,
    });
    this.ingestBatches = new Counter({
      name: "clawguard_ingest_batches_total",
      help: "POST /v1/events by HTTP status, this replica (4xx: refused as a whole)",
      labelNames: ["status"],
      registers,
    });
    this.heartbeats = new Counter({
      name: "clawguard_heartbeats_total",
      help: "POST /v1/heartbeats by HTTP status, this replica",
      labelNames: ["status"],
      registers,
    });
    this.notifications = new Counter({
      name: "clawguard_notifications_total",
      help: "Alert notifications sent by the collector, by channel and result (sent; failed; unknown: sent whole, not answered in time, not sent again)",
      labelNames: ["channel", "result"],
      registers,
    });
  }

  /** The exposition text: the fleet and the store read once for the whole scrape. */
  async render(view: FleetView, db: Db, now = Date.now()): Promise<string> {
    const [openIncidents, actions, leases] = await Promise.all([
      counts(
        db,
        "SELECT agent AS key, count(*) AS n FROM incidents WHERE resolved_at IS NULL GROUP BY agent",
      ),
      counts(
        db,
        "SELECT action AS key, count(*) AS n FROM incident_events WHERE kind = 'action' GROUP BY action",
      ),
      counts(db, "SELECT name AS key, granted AS n FROM fencing"),
    ]);
    return this.#render({ view, now, openIncidents, actions, leases });
  }

  /**
   * One agent's series as its own sidecar serves them (GET /metrics on the sidecar): the same names
   * and labels as the collector's, without the store's (incidents, controller) or the collector's own.
   */
  async renderAgent(agent: FleetAgent, now = Date.now()): Promise<string> {
    const none = new Map<string, number>();
    const text = await this.#render({
      view: { agents: [agent], drift: [] },
      now,
      openIncidents: none,
      actions: none,
      leases: none,
    });
    const agentSeries = text.split("\n\n").filter((block) => /^# HELP clawguard_(agent|llm)_/.test(block));
    return `${agentSeries.join("\n\n")}\n`;
  }

  async #render(snapshot: Snapshot): Promise<string> {
    this.#snapshot = snapshot;
    try {
      return await this.registry.metrics();
    } finally {
      this.#snapshot = undefined;
    }
  }
}
