import { randomBytes } from "node:crypto";
import { readlinkSync, rmSync, symlinkSync } from "node:fs";
import { INSTANCE_PATTERN } from "@clawguard/shared/events/envelope";

/**
 * This sidecar's instance id, kept in its state dir: the same across its restarts, another for a
 * sidecar with another state dir (two configured with one agent name tell apart by it). Kept as a
 * symbolic link's target, as the spool lock is: made or refused in one step, needing no free block
 * (a sidecar starts on a full disk). A link that holds no valid id is replaced.
 */
export function instanceId(file: string): string {
  for (let attempt = 0; attempt < 3; attempt++) {
    const held = readId(file);
    if (held !== undefined && INSTANCE_PATTERN.test(held)) return held;
    if (held !== undefined) rmSync(file, { force: true });
    const id = randomBytes(8).toString("hex");
    try {
      symlinkSync(id, file);
      return id;
    } catch (err) {
      // Another start made it first: read theirs.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  throw new Error(`${file}: could not keep an instance id there`);
}

/** The link's target; a file's content would not be valid; undefined when there is none. */
function readId(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "EINVAL") return ""; // a regular file: not ours, replaced
    throw err;
  }
}
