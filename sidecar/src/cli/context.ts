import type { SidecarConfig } from "../config.ts";
import { loadSidecarConfig } from "../config.ts";
import { agentSideInputs } from "./config-file.ts";

export { configFile } from "./config-file.ts";

/**
 * The sidecar config as the agent-side commands see it. With no workspace configured, the
 * workspace is the nearest folder above the current one that clawguard already uses.
 */
export function agentSideConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): SidecarConfig {
  const inputs = agentSideInputs(flag, env, cwd);
  return loadSidecarConfig(inputs.file, inputs.env, cwd);
}
