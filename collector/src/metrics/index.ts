import { ExpositionWriter, writeFamilies } from "@clawguard/shared/metrics/exposition";
import { AGENT_FAMILIES } from "@clawguard/shared/metrics/families";
import { Counter, Registry } from "prom-client";
import type { FleetAgent, FleetView } from "../fleet/index.ts";
import type { Db } from "../store/db.ts";
import { boundAgent, DEFAULT_METRICS_LIMITS, type MetricsLimits, noneCapped } from "./bound.ts";
import { type Family, fleetFamilies, type Snapshot } from "./families.ts";

export { DEFAULT_METRICS_LIMITS, type MetricsLimits } from "./bound.ts";

/**
 * The collector's /metrics, in the Prometheus text format. Two kinds of series:
 *
 * - the fleet's (`clawguard_agent_*`, `clawguard_llm_*`, incidents, controller): read at each render
 *   from the agents' last heartbeats (their `stats`: counters since the sidecar started) and from the
 *   store, bounded (bound.ts: agents, provider/model pairs, memory files, probes, label lengths) and
 *   written by ExpositionWriter, which gives the event loop back every few milliseconds (the writer
 *   and the per-agent families are @clawguard/shared/metrics, a sidecar's own /metrics uses them
 *   too). A render is shared by the scrapes that ask while it runs and served again for `cacheMs`;
 * - the collector's own (`clawguard_ingest_*`, `clawguard_heartbeats_total`,
 *   `clawguard_notifications_total`): prom-client counters kept in this process (per replica; sum
 *   them across replicas), rendered at every scrape.
 */

export interface CollectorMetricsOptions extends Partial<MetricsLimits> {
  /** A render is served again to the scrapes within this long (several Prometheus servers, replicas' checks). */
  cacheMs?: number;
}

const FAMILIES: readonly Family[] = [...AGENT_FAMILIES, ...fleetFamilies()];

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
  readonly #limits: MetricsLimits;
  readonly #cacheMs: number;
  #rendering: Promise<Buffer[]> | undefined;
  #last: { at: number; chunks: Buffer[] } | undefined;

  constructor(options: CollectorMetricsOptions = {}) {
    const { cacheMs, ...limits } = options;
    this.#limits = { ...DEFAULT_METRICS_LIMITS, ...limits };
    this.#cacheMs = cacheMs ?? 1000;
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

  /**
   * The exposition text: the fleet's part (the fleet and the store read once) shared by the scrapes
   * that ask while it is written and reused for cacheMs, then this replica's own counters.
   */
  async render(view: () => Promise<FleetView>, db: Db): Promise<Buffer[]> {
    const fresh = this.#last && Date.now() - this.#last.at < this.#cacheMs ? this.#last.chunks : undefined;
    if (!fresh && !this.#rendering)
      this.#rendering = this.#renderFleet(view, db).finally(() => {
        this.#rendering = undefined;
      });
    const fleet = fresh ?? (await (this.#rendering as Promise<Buffer[]>));
    return [...fleet, Buffer.from(await this.registry.metrics())];
  }

  /** The whole exposition as one string (tests, small fleets). */
  async renderText(view: () => Promise<FleetView>, db: Db): Promise<string> {
    return Buffer.concat(await this.render(view, db)).toString("utf8");
  }

  async #renderFleet(view: () => Promise<FleetView>, db: Db): Promise<Buffer[]> {
    const [fleet, openIncidents, actions, leases] = await Promise.all([
      view(),
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
    const chunks = await this.#write(fleet.agents, {
      now: Date.now(),
      drift: fleet.drift,
      openIncidents,
      actions,
      leases,
      capped: noneCapped(),
    });
    this.#last = { at: Date.now(), chunks };
    return chunks;
  }

  /** The families over the agents (the first maxAgents, each bounded), the loop given back as it goes. */
  async #write(all: readonly FleetAgent[], snapshot: Snapshot): Promise<Buffer[]> {
    const w = new ExpositionWriter();
    const { capped } = snapshot;
    const agents: FleetAgent[] = [];
    for (const a of all.slice(0, this.#limits.maxAgents)) {
      agents.push(boundAgent(a, this.#limits, capped));
      await w.breathe();
    }
    capped.agents = Math.max(0, all.length - agents.length);
    await writeFamilies(w, FAMILIES, agents, snapshot);
    return w.chunks();
  }
}
