import { join } from "node:path";

/**
 * Where the sidecar and the agent-side commands keep things in a workspace. Sub-agents share one
 * workspace volume, so everything but spill files (named by unique ids) lives under the agent's name.
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
    spool: join(agentDir, "spool"),
    /** The sidecar's API token when none is configured: generated at start, mode 0600. */
    apiToken: join(agentDir, "sidecar.token"),
  };
}
