import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import { privateDir } from "@clawguard/shared/fs-dirs";
import { SIDECAR_ENV } from "../config-env.ts";
import type { ExecGuardConfig } from "../sources/exec-guard/config.ts";
import { readKept } from "./cache-dir.ts";
import { agentSideInputs } from "./config-file.ts";
import { loadContext } from "./load-context.ts";

/** What `clawguard exec` needs of the sidecar config: nothing secret. */
export interface ExecSettings {
  agent: string;
  role: string;
  host: string;
  paths: { spill: string; inbox: string };
  exec: ExecGuardConfig;
  /**
   * No config file, no CLAWGUARD_AGENT and no sidecar answered: the agent is the default one. Not
   * kept in the cache, so that the next run asks again (a sidecar slow to answer once must not
   * send every later command's events to an inbox no sidecar reads).
   */
  agentUnknown?: true;
}

type Loader = (flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string) => Promise<ExecSettings>;

/**
 * Who this agent is, when neither a config file nor CLAWGUARD_AGENT says: its own sidecar, which in
 * a container deployment shares its network namespace (127.0.0.1:18801, as `clawguard inject`
 * writes it) and names its agent on /healthz. A workspace shared by several agents (the sub-agents
 * of a gateway) cannot say; without this the events went to the default agent's inbox, which no
 * sidecar reads. Undefined when no sidecar answers there.
 */
export async function agentOfSidecar(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const listen = env.CLAWGUARD_SIDECAR_LISTEN ?? "127.0.0.1:18801";
    // Refused at once when there is no sidecar; a loaded one may take seconds (11 execs at once on
    // 2 busy cores took over 1 s, and the events went to the default agent's inbox).
    const response = await fetch(`http://${listen}/healthz`, { signal: AbortSignal.timeout(5000) });
    const body = (await response.json()) as { agent?: unknown };
    return typeof body.agent === "string" && body.agent !== "" ? body.agent : undefined;
  } catch {
    return undefined;
  }
}

/** The full load: the sidecar config's schema (zod) and YAML, ~30 ms of a start before the spawn. */
const loadFully: Loader = async (flag, given, cwd) => {
  const { agentSideConfig, configFile } = await loadContext();
  let env = given;
  let unknown = false;
  if (!env.CLAWGUARD_AGENT && !configFile(flag, env, cwd)) {
    const agent = await agentOfSidecar(env);
    if (agent) env = { ...env, CLAWGUARD_AGENT: agent };
    else unknown = true;
  }
  const config = agentSideConfig(flag, env, cwd);
  return {
    agent: config.agent,
    role: config.role,
    host: config.host,
    paths: { spill: config.paths.spill, inbox: config.paths.inbox },
    exec: config.exec,
    ...(unknown ? { agentUnknown: true as const } : {}),
  };
};

/**
 * The exec settings for (--config, env, cwd). Validated settings are kept in `cacheDir` under a key
 * that covers every input of the loader: the config file's path and bytes, the variables of the
 * sidecar config, the working directory (and the workspace found from it), the host name, and the
 * running program file (a new build starts afresh). The same inputs then skip the loader, which is
 * most of the time before the command can be spawned. The cache is used only in a directory this
 * user alone can write (a forged entry could lift the exec policy); any problem with it falls back
 * to the full load, which is also what reports a bad config.
 */
export async function execSettings(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
  cacheDir: string | undefined,
  load: Loader = loadFully,
): Promise<ExecSettings> {
  const entry = cacheDir && privateDir(cacheDir) ? cacheEntry(cacheDir, flag, env, cwd) : undefined;
  if (entry) {
    try {
      return JSON.parse(readKept(entry).toString("utf8")) as ExecSettings;
    } catch {
      // Not there yet (or unreadable): load.
    }
  }
  const settings = await load(flag, env, cwd);
  if (entry && !settings.agentUnknown) {
    try {
      writeFileAtomic(entry, JSON.stringify(settings));
    } catch {
      // A cache that cannot be written only costs the next run the full load.
    }
  }
  return settings;
}

function cacheEntry(
  dir: string,
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): string | undefined {
  try {
    const inputs = agentSideInputs(flag, env, cwd);
    const program = process.argv[1] ? statSync(process.argv[1]) : undefined;
    const key = createHash("sha256")
      .update(
        JSON.stringify([
          process.argv[1] ?? null,
          program?.size ?? null,
          program?.mtimeMs ?? null,
          inputs.file ?? null,
          inputs.file ? readFileSync(inputs.file).toString("base64") : null,
          cwd,
          hostname(),
          Object.keys(SIDECAR_ENV).map((name) => inputs.env[name] ?? null),
        ]),
      )
      .digest("hex");
    return join(dir, `exec-${key}.json`);
  } catch {
    return undefined; // an unreadable config file: the full load says what is wrong
  }
}
