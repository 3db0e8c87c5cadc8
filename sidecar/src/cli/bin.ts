#!/usr/bin/env node
import { runAsProgram } from "@clawguard/shared/cli/dispatch";
import { SIDECAR_COMMANDS } from "./commands/index.ts";

/** The `clawguard` of the sidecar's image: the sidecar package's commands only. */
if (import.meta.main) await runAsProgram(SIDECAR_COMMANDS);
