import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { isAbsolute, join, relative, sep } from "node:path";

/**
 * What clawguard keeps in a workspace: only what the agent's side writes (spill files, the inbox
 * of its events). Sub-agents share one workspace volume, so everything but spill files (named by
 * unique ids) lives under the agent's name. The agent's container reads and writes all of it:
 * nothing secret, nothing the sidecar alone writes (see statePaths).
 */
export function workspacePaths(workspace: string, agent: string) {
  const root = join(workspace, ".clawguard");
  const agentDir = join(root, "agents", agent);
  return {
    root,
    spill: join(root, "spill"),
    agentDir,
    /** Drafts left by `clawguard exec` for the sidecar to seal into the chain. */
    inbox: join(agentDir, "inbox"),
    /** Inbox drafts that were not events, set aside (beside the inbox: a rename, same volume). */
    quarantine: join(agentDir, "quarantine"),
  };
}

/**
 * The sidecar's private state, outside the workspace: the agent's container does not mount it.
 * The workspace is the agent's to rewrite (a file there may be a link to anywhere the sidecar can
 * write): what the sidecar alone writes, and what the agent must not alter, lives here.
 * `stateDir` as configured (CLAWGUARD_STATE_DIR), else $XDG_STATE_HOME/clawguard/<agent>-<id of the
 * workspace> (~/.local/state/...); the sidecar image sets /var/lib/clawguard, in its own container.
 */
export function statePaths(stateDir: string) {
  return {
    stateDir,
    /** The sidecar's API token when none is configured: generated at start, mode 0600. */
    apiToken: join(stateDir, "sidecar.token"),
    /** The audit events before the collector has them (spool.dir overrides it). */
    spool: join(stateDir, "spool"),
    deadLetter: join(stateDir, "dead-letter.jsonl"),
    /** Memory versions before the collector has them. */
    blobs: join(stateDir, "blobs"),
    /** What the memory watcher knew at its last stop (the agent must not be able to rewrite it). */
    memoryState: join(stateDir, "memory-state.json"),
    /** This sidecar's instance id, the same across its restarts (see instance-id.ts). */
    instanceId: join(stateDir, "instance-id"),
  };
}

/**
 * What `clawguard up` keeps beside its sidecar's state: the tokens it generates and the embedded
 * collector's store. Never in the workspace: the agent's container reads everything there.
 */
export function upPaths(stateDir: string) {
  const dir = join(stateDir, "up");
  return {
    dir,
    ingestToken: join(dir, "ingest.token"),
    readToken: join(dir, "read.token"),
    sidecarTokens: join(dir, "sidecar-tokens"),
    collectorData: join(stateDir, "collector"),
  };
}

/** Where `clawguard up` kept the same before: in the workspace (moved out at the next `up`). */
export function workspaceUpPaths(workspace: string): { tokens: string; collectorData: string } {
  return {
    tokens: join(workspace, ".clawguard", "local"),
    collectorData: join(workspace, ".clawguard", "collector"),
  };
}

/** One per workspace and agent: two sidecars on one host never share a watcher's memory. */
export function defaultStateDir(env: NodeJS.ProcessEnv, workspace: string, agent: string): string {
  const base =
    env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME)
      ? env.XDG_STATE_HOME
      : join(homedir(), ".local", "state");
  const id = createHash("sha256").update(workspace).digest("hex").slice(0, 16);
  return join(base, "clawguard", `${agent}-${id}`);
}

/** Whether `path` is `dir` or inside it (both absolute). */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
