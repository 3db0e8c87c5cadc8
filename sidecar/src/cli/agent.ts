#!/usr/bin/env node
import { isMainThread } from "node:worker_threads";
import { runAsProgram } from "@clawguard/shared/cli/dispatch";
import { AGENT_COMMANDS } from "./agent-commands.ts";

/**
 * The agent-side CLI (`exec`, `read`), bundled by `pnpm build` into one self-contained file that
 * runs in the agent's container with nothing but Node. The same file is the `read --grep` worker.
 */
// The built file's launcher points Node's compile cache at a temp folder for faster starts; the
// commands `exec` runs must not inherit that.
if (process.env.CLAWGUARD_COMPILE_CACHE) {
  delete process.env.NODE_COMPILE_CACHE;
  delete process.env.CLAWGUARD_COMPILE_CACHE;
}
if (isMainThread) void runAsProgram(AGENT_COMMANDS);
else void import("../sources/exec-guard/grep-worker.ts");
