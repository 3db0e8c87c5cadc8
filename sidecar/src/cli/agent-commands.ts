import type { Commands } from "@clawguard/shared/cli/dispatch";

/** What runs inside the agent's container: no daemons, no collector code. */
export const AGENT_COMMANDS: Commands = {
  exec: {
    summary: "run a command; spill and preview output over the limit",
    load: async () => (await import("./commands/exec.ts")).execCommand,
  },
  read: {
    summary: "page through a spilled output",
    load: async () => (await import("./commands/read.ts")).readCommand,
  },
};
