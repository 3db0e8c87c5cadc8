import { existsSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Whether the agent's openclaw.json is not there yet: its folder exists, the file does not. OpenClaw
 * writes it at its first start, and in a compose project the sidecar starts beside the agent, maybe
 * first; what the sidecar reads from it waits for it. A missing folder is a wrong path.
 */
export function openclawConfigPending(file: string | undefined): boolean {
  return file !== undefined && !existsSync(file) && existsSync(dirname(file));
}
