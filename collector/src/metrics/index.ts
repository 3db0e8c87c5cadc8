import {
  AGENT_SERIES,
  renderSeries,
  type SeriesDefinition,
  type SeriesSnapshot,
} from "@clawguard/shared/metrics/agent-series";
import { Counter, Registry } from "prom-client";
import type { FleetView } from "../fleet/index.ts";
import type { Db } from "../store/db.ts";

/**
 * The collector's /metrics, in the Prometheus text format. Two kinds of series:
 *
 * - the fleet's: the per-agent ones (`clawguard_agent_*`, `clawguard_llm_*`; shared with the sidecars'
 *   own /metrics, see @clawguard/shared/metrics/agent-series) read at each scrape from the agents'
 *   last heartbeats, and the fleet's and the store's (config drift, incidents, controller actions);
 *   labels are bounded: role, agent, action, lease;
 * - the collector's own (`clawguard_ingest_*`, `clawguard_heartbeats_*`, `clawguard_notifications_*`):
 *   prom-client counters kept in this process (per replica; sum them across replicas).
 */

interface Snapshot extends SeriesSnapshot {
  view: FleetView;
  openIncidents: Map<string, number>;
  actions: Map<string, number>;
  leases: Map<string, number>;
}

function fleetDefinitions(): SeriesDefinition<Snapshot>[] {
  return [
    [
      "clawguard_config_drift",
      "1 for a role whose live agents report different config fingerprints",
      "gauge",
      (s) => s.view.drift.map((d) => ({ labels: { role: d.role }, value: 1 })),
    ],
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

/** The series computed from each scrape's snapshot, in the order /metrics lists them. */
const SNAPSHOT_SERIES: readonly SeriesDefinition<Snapshot>[] = [...AGENT_SERIES, ...fleetDefinitions()];

export class CollectorMetrics {
  /** The collector's own counters (the snapshot series are rendered beside them). */
  readonly registry = new Registry();
  readonly ingestEvents: Counter<"result">;
  readonly ingestBatches: Counter<"status">;
  readonly heartbeats: Counter<"status">;
  readonly notifications: Counter<"channel" | "result">;

  constructor() {
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
      help: "Alert notifications sent by the collector, by channel and result (sent, failed)",
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
    const series = renderSeries(SNAPSHOT_SERIES, { view, now, openIncidents, actions, leases });
    return `${series}\n${await this.registry.metrics()}`;
  }
}
