#!/usr/bin/env node
import { AGENT_COMMANDS } from "./agent-commands.ts";
import { runAsProgram } from "./dispatch.ts";

/**
 * The agent-side CLI (`exec`, `read`), bundled by `pnpm build` into one self-contained file that
 * runs in the agent's container with nothing but Node.
 */
await runAsProgram(AGENT_COMMANDS);
