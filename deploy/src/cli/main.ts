#!/usr/bin/env node
import { COLLECTOR_COMMANDS } from "@clawguard/collector/cli/commands/index";
import type { Io } from "@clawguard/shared/cli/command";
import { type Commands, dispatch, runAsProgram } from "@clawguard/shared/cli/dispatch";
import { SIDECAR_COMMANDS } from "@clawguard/sidecar/cli/commands/index";
import { readingWithUpToken } from "./up-token.ts";

/**
 * The operator's `clawguard`: every command. The packages' tables hold only names, summaries and
 * loaders: a command's package (the sidecar's, the collector's, this one's) loads when it runs.
 */
const COMMANDS: Commands = {
  up: {
    summary: "quick start: collector (embedded store) + sidecar for a local workspace",
    load: async () => (await import("./commands/up.ts")).upCommand,
  },
  // The read commands find the token `up` made when none is set, so that its hints work as printed.
  ...readingWithUpToken({ ...SIDECAR_COMMANDS, ...COLLECTOR_COMMANDS }, [
    "audit",
    "fleet",
    "incidents",
    "alerts",
    "memory",
  ]),
  inject: {
    summary: "add clawguard (sidecars, collector, secrets) to a Docker Compose file; --remove takes it out",
    load: async () => (await import("../inject/command.ts")).injectCommand,
  },
  config: {
    summary: "render, validate and diff agents' OpenClaw configs from one config tree",
    load: async () => (await import("../config-tree/command.ts")).configCommand,
  },
};

/** The whole CLI, for tests: exit code of `clawguard <argv>`. */
export const main = (argv: string[], io: Io): Promise<number> => dispatch(COMMANDS, argv, io);

if (import.meta.main) await runAsProgram(COMMANDS);
