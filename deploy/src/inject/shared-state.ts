import { posix } from "node:path";
import type { Agent } from "./detect.ts";

/** A mount's source as written, in one spelling: `./state/` and `state` are the same folder. */
function sourceKey(source: string): string {
  if (!source.startsWith(".") && !source.startsWith("/") && !source.startsWith("~"))
    return `volume ${source}`;
  const normal = posix.normalize(source).replace(/\/+$/, "");
  return `bind ${normal.startsWith("/") || normal.startsWith("~") || normal.startsWith("..") ? normal : `./${normal}`}`;
}

/**
 * Agents that mount the same volume or host folder as their state directory: OpenClaw holds a
 * lock there, so only the first to start runs and the others exit 78, again and again under a
 * restart policy. Sharing a workspace is fine (the seed's sub-agents do); sharing the state is not.
 * The standby inject adds for HA shares its gateway's state on purpose, and is never started
 * beside it: it is not among `agents`.
 */
export function sharedStateWarnings(agents: readonly Agent[]): string[] {
  const bySource = new Map<string, Agent[]>();
  for (const agent of agents) {
    if (!agent.state) continue;
    const key = sourceKey(agent.state.source);
    bySource.set(key, [...(bySource.get(key) ?? []), agent]);
  }
  const warnings: string[] = [];
  for (const [key, sharing] of bySource) {
    if (sharing.length < 2) continue;
    const names = sharing.map((a) => `services.${a.name}`).join(", ");
    const source = key.replace(/^(volume|bind) /, "");
    const targets = [...new Set(sharing.map((a) => a.state?.target))].join(", ");
    warnings.push(
      `${names}: all mount ${source} as their state directory (${targets}); OpenClaw locks its state directory, so only one of them runs and the others exit 78: give each agent a state of its own (a shared workspace is fine)`,
    );
  }
  return warnings;
}
