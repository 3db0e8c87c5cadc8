import { hostname } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { agentName, parseListen, roleName } from "@clawguard/shared/config/fields";
import { loadConfig } from "@clawguard/shared/config/load";
import { ClawguardError } from "@clawguard/shared/errors";
import { z } from "zod";
import { apiConfig } from "./api/config.ts";
import { SIDECAR_ENV } from "./config-env.ts";
import { defaultStateDir, statePaths, workspacePaths } from "./paths.ts";
import { heartbeatConfig } from "./sinks/heartbeat/config.ts";
import { shipperConfig } from "./sinks/shipper/config.ts";
import { spoolConfig } from "./sinks/spool/config.ts";
import { execGuardConfig } from "./sources/exec-guard/config.ts";
import { checkRules } from "./sources/exec-guard/rules.ts";
import { llmProxyConfig } from "./sources/llm-proxy/config.ts";
import { memoryWatchConfig } from "./sources/memory-watch/watch-config.ts";
import { proberConfig } from "./sources/prober/config.ts";

export const sidecarSchema = z.strictObject({
  /** The agent this sidecar speaks for: `main`, `sub1`, ... */
  agent: agentName.default("main"),
  role: roleName.default("agent"),
  host: z.string().min(1).max(255).default(hostname()),
  workspace: z.string().min(1).default("."),
  /** Where the sidecar publishes the agent-side clawguard for the agent's container (a shared volume). */
  binDir: z.string().min(1).optional(),
  /** The sidecar's private state (its API token, the watcher's memory), outside the workspace. */
  stateDir: z.string().min(1).optional(),
  /**
   * The inbox of the agent-side commands' drafts, when not the workspace's: a folder only this
   * agent's container and its sidecar mount, so that no other agent on a shared workspace can drop
   * drafts into it.
   */
  inboxDir: z.string().min(1).optional(),
  api: apiConfig,
  exec: execGuardConfig,
  spool: spoolConfig,
  shipper: shipperConfig,
  llm: llmProxyConfig,
  memory: memoryWatchConfig,
  probe: proberConfig,
  heartbeat: heartbeatConfig,
});

export type SidecarConfig = z.output<typeof sidecarSchema> & {
  /** Absolute paths derived from workspace, agent and stateDir. */
  paths: ReturnType<typeof workspacePaths> & ReturnType<typeof statePaths>;
};

export { SIDECAR_ENV, SIDECAR_SECRET_ENV } from "./config-env.ts";

export function loadSidecarConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): SidecarConfig {
  const config = loadConfig({ schema: sidecarSchema, program: "sidecar", file, env, envMap: SIDECAR_ENV });
  const problems = [
    ...checkRules(config.exec.policy.allow, "exec.policy.allow"),
    ...checkRules(config.exec.policy.deny, "exec.policy.deny"),
  ];
  if (config.exec.previewBytes > config.exec.maxBytes && config.exec.maxBytes >= 512) {
    // A preview bigger than the limit would put more in the context than passing the output through.
    problems.push(
      `exec.previewBytes: expected at most exec.maxBytes (${config.exec.maxBytes}), got ${config.exec.previewBytes}`,
    );
  }
  if (config.spool.maxBytes < 2 * config.spool.segmentBytes) {
    // Only whole acknowledged segments are freed: with room for less than two, the spool fills
    // before its first segment rolls and can never free anything.
    problems.push(
      `spool.maxBytes: expected at least 2 x spool.segmentBytes (${2 * config.spool.segmentBytes}), got ${config.spool.maxBytes}: raise it, or set spool.segmentBytes to at most ${Math.floor(config.spool.maxBytes / 2)}`,
    );
  }
  if (config.shipper.backoffMinMs > config.shipper.backoffMaxMs) {
    problems.push(
      `shipper.backoffMinMs: expected at most shipper.backoffMaxMs (${config.shipper.backoffMaxMs})`,
    );
  }
  const injecting = Object.entries(config.llm.providers).filter(([, p]) => p.apiKey);
  if (injecting.length > 0 && !isLoopback(parseListen(config.api.listen).host)) {
    // Whoever reaches the proxy spends the injected key: only the agent beside it may.
    problems.push(
      `api.listen: llm.providers.${injecting[0]?.[0]}.apiKey is injected by the proxy, so the sidecar must listen on loopback, got ${config.api.listen}`,
    );
  }
  const base = file ? resolve(cwd, file, "..") : cwd;
  const workspace = isAbsolute(config.workspace) ? config.workspace : resolve(base, config.workspace);
  const stateDir = config.stateDir
    ? resolve(base, config.stateDir)
    : defaultStateDir(env, workspace, config.agent);
  if (problems.length > 0) {
    throw new ClawguardError(
      "config.invalid",
      `sidecar config has ${problems.length} problem${problems.length > 1 ? "s" : ""}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  const paths = { ...workspacePaths(workspace, config.agent), ...statePaths(stateDir) };
  if (config.inboxDir) {
    // The quarantine beside the inbox, as in the workspace: setting a draft aside is a rename.
    paths.inbox = resolve(base, config.inboxDir);
    paths.quarantine = join(dirname(paths.inbox), "quarantine");
  }
  if (config.spool.dir)
    paths.spool = isAbsolute(config.spool.dir) ? config.spool.dir : resolve(base, config.spool.dir);
  return Object.freeze({ ...config, workspace, paths: Object.freeze(paths) });
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * The config agents of one role should share, for the heartbeat's fingerprint (fleet drift): without
 * what names this agent and what must differ per agent on one host (its paths, its listen address).
 */
export function sharedConfig(config: SidecarConfig): unknown {
  const {
    agent: _agent,
    host: _host,
    role: _role,
    workspace: _workspace,
    stateDir: _stateDir,
    inboxDir: _inboxDir,
    paths: _paths,
    ...shared
  } = config;
  return {
    ...shared,
    api: { ...shared.api, listen: undefined },
    spool: { ...shared.spool, dir: undefined },
  };
}
