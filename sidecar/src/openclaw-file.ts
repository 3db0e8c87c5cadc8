import { closeSync, existsSync, fstatSync, openSync, readFileSync, type Stats, statSync } from "node:fs";
import { dirname } from "node:path";
import JSON5 from "json5";

/**
 * Whether the agent's openclaw.json is not there yet: its folder exists, the file does not. OpenClaw
 * writes it at its first start, and in a compose project the sidecar starts beside the agent, maybe
 * first; what the sidecar reads from it waits for it. A missing folder is a wrong path.
 */
export function openclawConfigPending(file: string | undefined): boolean {
  return file !== undefined && !existsSync(file) && existsSync(dirname(file));
}

/**
 * The agent's openclaw.json as read: "pending" (not there yet, see openclawConfigPending), "broken"
 * (`why` it cannot be read or parsed; `missing` when neither it nor its folder is there: a wrong
 * path), or "read" with its document. `stamp` changes when the file does (its inode, mtime and size).
 */
export type OpenClawFile =
  | { state: "pending"; stamp: string }
  | { state: "broken"; stamp: string; missing: boolean; why: string }
  | { state: "read"; stamp: string; doc: unknown };

/** Files read, by path: a handful at most (the LLM guard's and the memory watcher's). */
const cache = new Map<string, OpenClawFile>();
const MAX_FILES = 8;

const stampOf = (s: Stats | undefined) => (s ? `${s.ino}:${s.mtimeMs}:${s.size}` : "none");

/**
 * openclaw.json, read by every part of the sidecar that needs it (the LLM guard's providers, the
 * memory watcher's bootstrap cap, the heartbeat's fingerprint): parsed once per change of the file,
 * whoever asks; asking again costs a stat. What is broken stays so until the file changes, then it
 * is read again. The document is frozen: its readers share it.
 */
export function readOpenClawFile(file: string): OpenClawFile {
  const stamp = stampOf(statSync(file, { throwIfNoEntry: false }));
  // Not there: nothing to parse, and whether its folder is there may change.
  if (stamp === "none") return openclawConfigPending(file) ? { state: "pending", stamp } : load(file, stamp);
  const known = cache.get(file);
  if (known && known.stamp === stamp) return known;
  const read = load(file, stamp);
  if (cache.size >= MAX_FILES && !cache.has(file)) cache.clear();
  cache.set(file, read);
  return read;
}

function load(file: string, statted: string): OpenClawFile {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    // The stamp of what was read, should the file change between the stat and the read.
    const stamp = stampOf(fstatSync(fd));
    const text = readFileSync(fd, "utf8");
    try {
      return { state: "read", stamp, doc: deepFreeze(JSON5.parse(text)) };
    } catch (err) {
      return {
        state: "broken",
        stamp,
        missing: false,
        why: `cannot read ${file}: ${(err as Error).message}`,
      };
    }
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    return {
      state: "broken",
      stamp: statted,
      missing,
      why: `cannot read ${file}: ${(err as Error).message}`,
    };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
