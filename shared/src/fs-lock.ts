import { linkSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClawguardError } from "./errors.ts";
import { processAlive } from "./process.ts";

/**
 * Takes `<dir>/LOCK` for this process (atomically, by hard link), taking over a lock whose owner
 * is gone. Returns a release function. `what` names the directory's use in the error.
 */
export function lockDirectory(dir: string, what: string): () => void {
  const lock = join(dir, "LOCK");
  const tmp = join(dir, `LOCK.${process.pid}`);
  writeFileSync(tmp, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, lock);
        return () => rmSync(lock, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const owner = Number(readFileSync(lock, "utf8"));
        if (owner && owner !== process.pid && processAlive(owner)) {
          throw new ClawguardError(
            "spool.locked",
            `${what} ${dir} is in use by another process (pid ${owner})`,
            {
              details: { pid: owner },
            },
          );
        }
        unlinkSync(lock); // stale: its owner is gone
      }
    }
    throw new ClawguardError("spool.locked", `${what} ${dir}: could not take the lock`);
  } finally {
    rmSync(tmp, { force: true });
  }
}
