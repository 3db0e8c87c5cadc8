import { readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ClawguardError } from "./errors.ts";
import { processAlive } from "./process.ts";

/** The pid a lock names: a symbolic link's target (or, from older versions, a file's content). */
function lockOwner(lock: string): number {
  try {
    return Number(readlinkSync(lock));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EINVAL") return 0;
    try {
      return Number(readFileSync(lock, "utf8"));
    } catch {
      return 0;
    }
  }
}

/**
 * Takes `<dir>/LOCK` for this process (atomically: a symbolic link to its pid, made or refused in
 * one step), taking over a lock whose owner is gone. A short link's target lives in its inode, so
 * the lock needs no free block: a process can start on a full disk. Returns a release function.
 * `what` names the directory's use in the error.
 */
export function lockDirectory(dir: string, what: string): () => void {
  const lock = join(dir, "LOCK");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      symlinkSync(String(process.pid), lock);
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = lockOwner(lock);
      if (owner && owner !== process.pid && processAlive(owner)) {
        throw new ClawguardError(
          "spool.locked",
          `${what} ${dir} is in use by another process (pid ${owner})`,
          {
            details: { pid: owner },
          },
        );
      }
      rmSync(lock, { force: true }); // stale: its owner is gone
    }
  }
  throw new ClawguardError("spool.locked", `${what} ${dir}: could not take the lock`);
}
