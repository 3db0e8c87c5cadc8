import { closeSync, copyFileSync, fsyncSync, lstatSync, openSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fsyncDir } from "@clawguard/shared/fs-atomic";
import { mkdirp } from "@clawguard/shared/fs-dirs";
import type { Logger } from "@clawguard/shared/log";

/**
 * Before its spool moved to the private state dir, a sidecar kept it in the workspace
 * (`.clawguard/agents/<agent>/spool`). On the first start after the upgrade, events still waiting
 * there for the collector would stay behind: they are moved into the new spool directory, when
 * that does not exist yet (once; never merged into a spool that already holds events). Only
 * regular files are taken (a link planted there is skipped); the collector checks their chain as
 * for any other event.
 */
export function adoptWorkspaceSpool(workspace: string, agent: string, spoolDir: string, log: Logger): number {
  const old = join(workspace, ".clawguard", "agents", agent, "spool");
  let names: string[];
  try {
    if (!lstatSync(old).isDirectory()) return 0;
    names = readdirSync(old);
  } catch {
    return 0; // none: a new install, or already adopted
  }
  let present = false;
  try {
    present = readdirSync(spoolDir).length > 0;
  } catch {
    // not there yet: adopt
  }
  if (present) {
    if (names.length > 0)
      log.warn("an old spool in the workspace was left alone: the state dir's spool already has events", {
        old,
        spool: spoolDir,
      });
    return 0;
  }
  mkdirp(spoolDir);
  let moved = 0;
  for (const name of names) {
    const from = join(old, name);
    if (!lstatSync(from).isFile()) continue;
    const to = join(spoolDir, name);
    copyFileSync(from, to);
    const fd = openSync(to, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    moved++;
  }
  fsyncDir(spoolDir);
  rmSync(old, { recursive: true, force: true });
  log.info("spool moved out of the workspace into the state dir", { from: old, to: spoolDir, files: moved });
  return moved;
}
