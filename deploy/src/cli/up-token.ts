import { existsSync } from "node:fs";
import type { Command } from "@clawguard/shared/cli/command";
import type { Commands } from "@clawguard/shared/cli/dispatch";

/**
 * The read token `clawguard up` made for the workspace here, in its sidecar's state dir: found as
 * `up` finds it (the same config file, agent main, this folder the workspace unless one is set).
 */
async function upReadTokenFile(env: NodeJS.ProcessEnv, cwd: string): Promise<string | undefined> {
  // The sidecar's config loader, only when a read command runs with no token set.
  const { configFile } = await import("@clawguard/sidecar/cli/config-file");
  const { loadSidecarConfig } = await import("@clawguard/sidecar/config");
  const { upPaths } = await import("@clawguard/sidecar/paths");
  try {
    const upEnv = { ...env, CLAWGUARD_AGENT: "main", CLAWGUARD_WORKSPACE: env.CLAWGUARD_WORKSPACE ?? cwd };
    const config = loadSidecarConfig(configFile(undefined, env, cwd), upEnv, cwd);
    const file = upPaths(config.paths.stateDir).readToken;
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined; // a sidecar setting that does not load: no token of `up`'s to find
  }
}

/** `command`, given the token of `clawguard up` when no other is set (flag or environment). */
function withUpReadToken(command: Command): Command {
  return {
    ...command,
    run: async (args, io) => {
      const set =
        args.some((a) => a === "--token-file" || a.startsWith("--token-file=")) ||
        io.env.CLAWGUARD_READ_TOKEN ||
        io.env.CLAWGUARD_READ_TOKEN_FILE;
      const file = set ? undefined : await upReadTokenFile(io.env, io.cwd);
      return command.run(args, file ? { ...io, env: { ...io.env, CLAWGUARD_READ_TOKEN_FILE: file } } : io);
    },
  };
}

/** The commands named in `readers`, each reading the collector with `up`'s token when none is set. */
export function readingWithUpToken(commands: Commands, readers: readonly string[]): Commands {
  return Object.fromEntries(
    Object.entries(commands).map(([name, entry]) => [
      name,
      readers.includes(name) ? { ...entry, load: async () => withUpReadToken(await entry.load()) } : entry,
    ]),
  );
}
