import type { Commands } from "@clawguard/shared/cli/dispatch";

/**
 * The collector package's commands: the collector, the router, and the collector's read commands
 * (what an operator runs in the collector's container: `docker compose exec clawguard-collector
 * clawguard fleet`). Each loads only when it runs.
 */
export const COLLECTOR_COMMANDS: Commands = {
  collector: {
    summary: "run the collector (events, audit trail, memory history, fleet, incidents)",
    load: async () => (await import("./collector.ts")).collectorCommand,
  },
  router: {
    summary: "forward a gateway group's traffic to its current target (switches on failover)",
    load: async () => (await import("./router.ts")).routerCommand,
  },
  route: {
    summary: "render the current route of a gateway group (nginx upstream)",
    load: async () => (await import("./router.ts")).routeCommand,
  },
  audit: {
    summary: "list and verify the audit trail",
    load: async () => (await import("./audit.ts")).auditCommand,
  },
  fleet: {
    summary: "every agent's state, last heartbeat and config drift",
    load: async () => (await import("./fleet.ts")).fleetCommand,
  },
  incidents: {
    summary: "incidents: when agents turned unhealthy, degraded or stale, and why",
    load: async () => (await import("./fleet.ts")).incidentsCommand,
  },
  alerts: {
    summary: "the collector's alerts firing now (gateway down, LLM error rate, LLM latency)",
    load: async () => (await import("./alerts.ts")).alertsCommand,
  },
};
