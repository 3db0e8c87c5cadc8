import type { Commands } from "@clawguard/shared/cli/dispatch";

/** The collector package's commands: the collector and the router. Each loads only when it runs. */
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
};
