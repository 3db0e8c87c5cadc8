#!/usr/bin/env node
import { isMainThread } from "node:worker_threads";
import { runAsProgram } from "@clawguard/shared/cli/dispatch";
import { AGENT_COMMANDS } from "./agent-commands.ts";

/**
 * The agent-side CLI (`exec`, `read`), bundled by `pnpm build` into one self-contained file that
 * runs in the agent's container with nothing but Node. The same file is the `read --grep` worker.
 */
if (isMainThread) void runAsProgram(AGENT_COMMANDS);
else void import("../sources/exec-guard/grep-worker.ts");
