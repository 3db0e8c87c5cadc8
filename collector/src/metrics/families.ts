import type { Family as SharedFamily } from "@clawguard/shared/metrics/exposition";
import type { FleetAgent, FleetView } from "../fleet/index.ts";
import type { Capped } from "./bound.ts";

/**
 * The collector's own families of /metrics: the fleet's (config drift), the store's (incidents,
 * controller) and what the bounds left out. The per-agent and per-LLM-series families are shared
 * with the sidecars (@clawguard/shared/metrics/families).
 */

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

/** One family of the collector's /metrics: per agent and/or fleet-wide. */
export type Family = SharedFamily<FleetAgent, Snapshot>;

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
