import type { Commands } from "@clawguard/shared/cli/dispatch";
import { AGENT_COMMANDS } from "../agent-commands.ts";

/**
 * The sidecar package's commands: the agent-side ones, the sidecar daemon, and the memory commands
 * (they read and write the agent's workspace). Each loads only when it runs; nothing here imports
 * the collector or the operator's toolbox (test/integration/package-boundaries.test.ts).
 */
export const SIDECAR_COMMANDS: Commands = {
  ...AGENT_COMMANDS,
  sidecar: {
    summary: "run the sidecar (exec guard, LLM proxy, memory watcher, probes, audit spool)",
    load: async () => (await import("./sidecar.ts")).sidecarCommand,
  },
  memory: {
    summary: "history, restore and decay of memory files",
    load: async () => (await import("./memory.ts")).memoryCommand,
  },
};
