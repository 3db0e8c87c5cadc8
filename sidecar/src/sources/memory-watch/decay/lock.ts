import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ClawguardError, type ErrorCode } from "@clawguard/shared/errors";
import { processAlive } from "@clawguard/shared/process";
import { isoTime } from "@clawguard/shared/time";
import type { DurableFs } from "./durable-fs.ts";

/** Until errors.ts has `memory.locked`: the code a second decayer gets. */
export const DECAY_LOCKED: ErrorCode = "memory.locked";

export interface LockHolder {
  pid: number;
  host: string;
  /** The PID namespace (`pid:[4026531836]` on Linux): a pid means something only inside it. */
  pidns: string | null;
  token: string;
  since: string;
}

export interface DecayLock {
  readonly holder: LockHolder;
  /** Throws unless the lock is still ours, and marks it fresh (its mtime) for other machines. */
  refresh(): void;
  release(): void;
}

function pidNamespace(): string | null {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return null;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    return Number.isSafeInteger(v.pid) && typeof v.host === "string" && typeof v.token === "string"
      ? (v as LockHolder)
      : undefined;
  } catch {
    return undefined;
  }
}

const describeHolder = (h: LockHolder) => `pid ${h.pid} on host ${h.host} (since ${h.since})`;

/**
 * Whether a lock's holder is gone. On this machine (same host and PID namespace) the pid tells;
 * a holder elsewhere (another sidecar container on the shared volume) cannot be asked, so its lock
 * is stale only when it has not been refreshed for `staleMs`.
 */
function isStale(holder: LockHolder | undefined, mtimeMs: number, staleMs: number): boolean {
  const here = holder && holder.host === hostname() && holder.pidns === pidNamespace();
  if (here) return holder.pid !== process.pid && !processAlive(holder.pid);
  return Date.now() - mtimeMs > staleMs;
}

function readLock(path: string): { text: string; mtimeMs: number } | undefined {
  try {
    return { text: readFileSync(path, "utf8"), mtimeMs: statSync(path).mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Takes `<dir>/LOCK` for one decay run: the lock file appears complete or not at all (written
 * to a private name, fsynced, then hard-linked into place). A stale lock is taken over by renaming
 * exactly the file judged stale out of the way, so two takers cannot both win.
 */
export function acquireDecayLock(fs: DurableFs, dir: string, staleMs: number, what: string): DecayLock {
  fs.mkdirp(dir);
  const path = join(dir, "LOCK");
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    pidns: pidNamespace(),
    token: randomBytes(12).toString("hex"),
    since: isoTime(new Date()),
  };
  const text = JSON.stringify(holder);
  const tmp = join(dir, `LOCK.${holder.token}.tmp`);
  const fd = openSync(tmp, "wx", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fs.step(`create ${tmp}`);
  const locked = (other: LockHolder | undefined): never => {
    throw new ClawguardError(
      DECAY_LOCKED,
      other
        ? `${what} is being decayed by ${describeHolder(other)}; lock ${path}`
        : `${what} is being decayed by another process (lock ${path} is unreadable; it is taken over once ${staleMs} ms old)`,
      { retryable: true, details: { lock: path, holder: other ?? null } },
    );
  };
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path);
        fs.step(`link ${tmp} -> ${path}`);
        fs.fsyncDir(dir);
        removeLeftovers(fs, dir, staleMs);
        return handle(fs, path, holder, what);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const seen = readLock(path);
      if (!seen) continue; // released meanwhile
      const other = parseHolder(seen.text);
      if (!isStale(other, seen.mtimeMs, staleMs)) locked(other);
      // Stale: move exactly that file aside, and check it was that file.
      const aside = join(dir, `LOCK.${holder.token}.stale`);
      try {
        renameSync(path, aside);
        fs.step(`rename ${path} -> ${aside}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      if (readFileSync(aside, "utf8") !== seen.text) {
        // Someone took it over between our read and rename: put theirs back.
        try {
          linkSync(aside, path);
        } catch {
          // A third process holds it now; the one we moved notices in its next refresh().
        }
        unlinkSync(aside);
        locked(parseHolder(readLock(path)?.text ?? ""));
      }
      unlinkSync(aside);
      fs.step(`unlink ${aside}`);
    }
    return locked(parseHolder(readLock(path)?.text ?? ""));
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

function handle(fs: DurableFs, path: string, holder: LockHolder, what: string): DecayLock {
  let released = false;
  const ours = () => parseHolder(readLock(path)?.text ?? "")?.token === holder.token;
  return {
    holder,
    refresh() {
      if (released || !ours()) {
        throw new ClawguardError(
          DECAY_LOCKED,
          `${what}: lost the decay lock ${path} (taken over as stale); stopping, the next run finishes the journal`,
        );
      }
      const now = new Date();
      utimesSync(path, now, now);
    },
    release() {
      if (released) return;
      released = true;
      if (ours()) fs.unlink(path);
    },
  };
}

/** `LOCK.<token>.tmp` / `.stale` files left by takers killed mid-way, on this machine. */
function removeLeftovers(fs: DurableFs, dir: string, staleMs: number): void {
  for (const name of readdirSync(dir)) {
    if (!/^LOCK\.[0-9a-f]+\.(tmp|stale)$/.test(name)) continue;
    const seen = readLock(join(dir, name));
    if (!seen || !isStale(parseHolder(seen.text), seen.mtimeMs, staleMs)) continue;
    try {
      fs.unlink(join(dir, name));
    } catch {
      // its owner removed it
    }
  }
}
