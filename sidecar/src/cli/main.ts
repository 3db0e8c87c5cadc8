#!/usr/bin/env node
import { AGENT_COMMANDS } from "./agent-commands.ts";
import type { Io } from "./command.ts";
import { type Commands, dispatch, runAsProgram } from "./dispatch.ts";

const COMMANDS: Commands = {
  up: {
    summary: "quick start: collector (embedded store) + sidecar for a local workspace",
    load: async () => (await import("./commands/up.ts")).upCommand,
  },
  ...AGENT_COMMANDS,
  sidecar: {
    summary: "run the sidecar (exec guard, LLM proxy, memory watcher, probes, audit spool)",
    load: async () => (await import("./commands/sidecar.ts")).sidecarCommand,
  },
  collector: {
    summary: "run the collector (events, audit trail, memory history, fleet, incidents)",
    load: async () => (await import("./commands/collector.ts")).collectorCommand,
  },
  audit: {
    summary: "list and verify the audit trail",
    load: async () => (await import("./commands/audit.ts")).auditCommand,
  },
  fleet: {
    summary: "every agent's state, last heartbeat and config drift",
    load: async () => (await import("./commands/fleet.ts")).fleetCommand,
  },
  incidents: {
    summary: "incidents: when agents turned unhealthy, degraded or stale, and why",
    load: async () => (await import("./commands/fleet.ts")).incidentsCommand,
  },
  alerts: {
    summary: "the collector's alerts firing now (gateway down, LLM error rate, LLM latency)",
    load: async () => (await import("./commands/alerts.ts")).alertsCommand,
  },
  inject: {
    summary: "add clawguard (sidecars, collector, secrets) to a Docker Compose file; --remove takes it out",
    load: async () => (await import("@clawguard/deploy/inject/command")).injectCommand,
  },
  config: {
    summary: "render, validate and diff agents' OpenClaw configs from one config tree",
    load: async () => (await import("@clawguard/deploy/config-tree/command")).configCommand,
  },
  router: {
    summary: "forward a gateway group's traffic to its current target (switches on failover)",
    load: async () => (await import("./commands/router.ts")).routerCommand,
  },
  route: {
    summary: "render the current route of a gateway group (nginx upstream)",
    load: async () => (await import("./commands/router.ts")).routeCommand,
  },
  memory: {
    summary: "history, restore and decay of memory files",
    load: async () => (await import("./commands/memory.ts")).memoryCommand,
  },
};

/** The whole CLI, for tests: exit code of `clawguard <argv>`. */
export const main = (argv: string[], io: Io): Promise<number> => dispatch(COMMANDS, argv, io);

if (import.meta.main) await runAsProgram(COMMANDS);
