#!/usr/bin/env node
import { runAsProgram } from "@clawguard/shared/cli/dispatch";
import { COLLECTOR_COMMANDS } from "./commands/index.ts";

/** The `clawguard` of the collector's image: the collector and the router. */
if (import.meta.main) await runAsProgram(COLLECTOR_COMMANDS);
