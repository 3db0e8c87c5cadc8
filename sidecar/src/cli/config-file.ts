import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/** The config file: --config, else CLAWGUARD_CONFIG, else ./clawguard.yaml when there is one. */
export function configFile(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): string | undefined {
  if (flag) return flag;
  if (env.CLAWGUARD_CONFIG) return env.CLAWGUARD_CONFIG;
  const local = join(cwd, "clawguard.yaml");
  return existsSync(local) ? local : undefined;
}

/** The nearest directory at or above `from` that holds a `.clawguard` folder. */
function findWorkspace(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (statSync(join(dir, ".clawguard"), { throwIfNoEntry: false })?.isDirectory()) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The config file and environment the agent-side commands load the sidecar config with: with no
 * workspace configured, the workspace is the nearest folder above `cwd` that clawguard already uses.
 */
export function agentSideInputs(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): { file: string | undefined; env: NodeJS.ProcessEnv } {
  const file = configFile(flag, env, cwd);
  if (env.CLAWGUARD_WORKSPACE || file) return { file, env };
  return { file, env: { ...env, CLAWGUARD_WORKSPACE: findWorkspace(cwd) ?? cwd } };
}
