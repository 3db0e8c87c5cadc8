import { lstatSync, lutimesSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ClawguardError } from "./errors.ts";
import { processAlive } from "./process.ts";

/**
 * Who holds a lock: the pid, and what tells a pid's process from a later one that got the same
 * number (its start time since boot), another boot, or another PID namespace (a container's: the
 * same number there is another process, and signal 0 cannot see it).
 */
export interface LockOwner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot. */
  start?: string;
  boot?: string;
  /** The PID namespace, as /proc/self/ns/pid names it ("pid:[4026531836]"). */
  pidns?: string;
}

/** The lock file's mtime is renewed this often while held: the lease a holder in another PID namespace keeps. */
export const LEASE_RENEW_MS = 2_000;
/** A lock of another PID namespace whose lease was not renewed for this long is stale. */
export const LEASE_STALE_MS = 10_000;

function read(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** When a process started (clock ticks since boot), or undefined when /proc does not say. */
export function processStart(pid: number): string | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}

function self(): LockOwner {
  return {
    pid: process.pid,
    start: processStart(process.pid),
    boot: read("/proc/sys/kernel/random/boot_id"),
    pidns: pidNamespace(),
  };
}

/**
 * The owner as the lock's link target: `pid:start:pidns:boot`, short enough (~40 bytes) to live in
 * the link's inode, so taking the lock needs no free block (a sidecar starts on a full disk).
 */
function encodeOwner(owner: LockOwner): string {
  const ns = /\[(\d+)\]/.exec(owner.pidns ?? "")?.[1] ?? "";
  return [owner.pid, owner.start ?? "", ns, (owner.boot ?? "").slice(0, 8)].join(":");
}

/** A lock's owner: a link's target, or the bare pid older versions wrote into a file. */
function parseOwner(text: string): LockOwner {
  if (/^\d+$/.test(text)) return { pid: Number(text) };
  const [pid = "", start = "", ns = "", boot = ""] = text.split(":");
  if (!/^\d+$/.test(pid)) return { pid: 0 };
  return {
    pid: Number(pid),
    ...(start ? { start } : {}),
    ...(ns ? { pidns: `pid:[${ns}]` } : {}),
    ...(boot ? { boot } : {}),
  };
}

/** The lock's owner text: the link's target, or an older version's file content. */
function readLock(lock: string): string | undefined {
  try {
    return readlinkSync(lock);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EINVAL" ? read(lock) : undefined;
  }
}

/**
 * Why the lock's owner is gone (stale), or undefined while it may still run. `ageMs` is how long
 * ago its lease was renewed.
 */
export function staleReason(owner: LockOwner, me: LockOwner, ageMs: number): string | undefined {
  if (!owner.pid) return "no owner in the lock file";
  if (owner.boot && me.boot && !me.boot.startsWith(owner.boot) && !owner.boot.startsWith(me.boot))
    return "held before a reboot";
  if (owner.pidns && me.pidns && owner.pidns !== me.pidns) {
    // Another container's pid: only its lease says whether it still runs.
    return ageMs > LEASE_STALE_MS
      ? `held in another PID namespace, lease expired ${ageMs} ms ago`
      : undefined;
  }
  if (owner.pid === me.pid) return "held by an earlier process with this pid";
  if (!processAlive(owner.pid)) return `pid ${owner.pid} is gone`;
  const start = processStart(owner.pid);
  if (owner.start && start && owner.start !== start) return `pid ${owner.pid} is now another process`;
  return undefined;
}

interface Held {
  lock: string;
  owner: string;
  timer: NodeJS.Timeout;
}

const held = new Set<Held>();

function release(h: Held): void {
  if (!held.delete(h)) return;
  clearInterval(h.timer);
  // Only our own lock: never one that a replacement took over after ours was judged stale.
  if (readLock(h.lock) === h.owner) rmSync(h.lock, { force: true });
}

let exitHook = false;
/** Every way out that runs JavaScript (process.exit, an uncaught exception, a handled signal) releases. */
function releaseOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const h of [...held]) release(h);
  });
}

export interface LockOptions {
  /** How long to wait for the lease of a holder in another PID namespace to run out (default: until stale). */
  waitMs?: number;
}

function take(dir: string, what: string, me: string): Held | string {
  const lock = join(dir, "LOCK");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      symlinkSync(me, lock);
      const timer = setInterval(() => {
        const now = new Date();
        try {
          lutimesSync(lock, now, now);
        } catch {
          // gone (the directory was removed): nothing to renew
        }
      }, LEASE_RENEW_MS).unref();
      return { lock, owner: me, timer };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const text = readLock(lock);
    if (text === undefined) continue; // released meanwhile
    const owner = parseOwner(text);
    const ageMs = Date.now() - (lstatSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    const stale = staleReason(owner, self(), Math.round(ageMs));
    if (!stale) {
      const where = owner.pidns && owner.pidns !== self().pidns ? " in another PID namespace" : "";
      return `${what} ${dir} is in use by another process (pid ${owner.pid}${where})`;
    }
    // The same stale owner still: a replacement that got here first may have taken it since.
    if (readLock(lock) === text) rmSync(lock, { force: true });
  }
  return `${what} ${dir}: could not take the lock`;
}

/**
 * Takes `<dir>/LOCK` for this process (atomically: a symbolic link naming it, made or refused in one
 * step, needing no free block), taking over a lock whose owner is
 * gone: its pid no longer runs or is another process now (start time), or, held from another PID
 * namespace, its lease ran out. Held locks are released on every exit that runs JavaScript; one
 * left by kill -9 is stale to the next process. Returns a release function. `what` names the
 * directory's use in the error.
 */
export async function lockDirectory(
  dir: string,
  what: string,
  options: LockOptions = {},
): Promise<() => void> {
  const me = encodeOwner(self());
  const deadline = Date.now() + (options.waitMs ?? LEASE_STALE_MS + LEASE_RENEW_MS);
  for (;;) {
    const taken = take(dir, what, me);
    if (typeof taken !== "string") {
      held.add(taken);
      releaseOnExit();
      return () => release(taken);
    }
    // Only another namespace's holder may go stale by waiting (its lease); a live local pid will not.
    if (!taken.includes("another PID namespace") || Date.now() >= deadline) {
      throw new ClawguardError("spool.locked", taken, { details: { dir } });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Who holds `<dir>/LOCK`, or undefined when nobody does. */
export function lockOwnerOf(dir: string): LockOwner | undefined {
  const text = readLock(join(dir, "LOCK"));
  return text === undefined ? undefined : parseOwner(text);
}

/** Test-only: a lock as `owner` would have left it (e.g. one killed with -9). */
export function plantLock(dir: string, owner: LockOwner): void {
  const lock = join(dir, "LOCK");
  rmSync(lock, { force: true });
  symlinkSync(encodeOwner(owner), lock);
}
