import { spawn, spawnSync } from "node:child_process";
import { lutimesSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isClawguardError } from "./errors.ts";
import { LEASE_STALE_MS, lockDirectory, lockOwnerOf, plantLock, processStart } from "./fs-lock.ts";

const lockModule = fileURLToPath(new URL("./fs-lock.ts", import.meta.url));
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fs-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const owner = () => lockOwnerOf(dir) ?? { pid: 0 };
const held = () => lockOwnerOf(dir) !== undefined;
const me = () => ({ ...owner() });

/** A process that takes the lock, says so, then runs `then` (JavaScript). */
function holder(then: string) {
  const script = `
    const { lockDirectory } = await import(${JSON.stringify(lockModule)});
    await lockDirectory(${JSON.stringify(dir)}, "test");
    process.stdout.write("locked\\n");
    ${then}`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("locked") && resolve());
    child.once("exit", (code) => reject(new Error(`holder exited ${code}`)));
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, locked, exited };
}

describe("lockDirectory", () => {
  it("records pid, start time, boot and PID namespace, and release removes only its own lock", async () => {
    const release = await lockDirectory(dir, "test");
    const o = me();
    expect(o.pid).toBe(process.pid);
    expect(o.start).toBe(processStart(process.pid));
    expect(o.pidns).toMatch(/^pid:\[\d+\]$/);
    // Taken over meanwhile (ours judged stale elsewhere): release leaves the other one alone.
    plantLock(dir, { ...o, pid: 1 });
    release();
    expect(held()).toBe(true);
  });

  it("refuses while a live process holds it; an uncaught exception, process.exit and a handled SIGTERM release it", async () => {
    for (const then of [
      `setTimeout(() => { throw new Error("boom") }, 300);`,
      `setTimeout(() => process.exit(3), 300);`,
      `process.once("SIGTERM", () => process.exit(143)); setInterval(() => {}, 1000); setTimeout(() => process.kill(process.pid, "SIGTERM"), 300);`,
    ]) {
      const h = holder(then);
      await h.locked;
      const err = await lockDirectory(dir, "test").catch((e: unknown) => e);
      expect(isClawguardError(err, "spool.locked")).toBe(true);
      expect(String(err)).toContain(`pid ${h.child.pid}`);
      await h.exited;
      expect(held()).toBe(false);
    }
  });

  it("takes over from a kill -9'd holder, and from a pid that is now another process", async () => {
    const h = holder("setInterval(() => {}, 1000);");
    await h.locked;
    h.child.kill("SIGKILL");
    await h.exited;
    expect(owner().pid).toBe(h.child.pid);
    (await lockDirectory(dir, "test"))();

    // A live pid (this one's parent) whose start time differs from the recorded one: reused.
    const o = { pid: process.ppid, start: "1", boot: undefined, pidns: undefined };
    plantLock(dir, o);
    await expect(lockDirectory(dir, "test")).resolves.toBeTypeOf("function");
  });

  it("a holder in another PID namespace: in use while its lease is renewed, taken once it ran out", async () => {
    const ns = spawnSync("readlink", ["/proc/self/ns/pid"], { encoding: "utf8" }).stdout.trim();
    const other = { pid: process.ppid, pidns: ns.replace(/\d+/, (n) => String(Number(n) + 1)) };
    plantLock(dir, other);
    const err = await lockDirectory(dir, "test", { waitMs: 300 }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/in use by another process \(pid \d+ in another PID namespace\)/);
    const old = new Date(Date.now() - LEASE_STALE_MS - 1000);
    lutimesSync(join(dir, "LOCK"), old, old);
    const release = await lockDirectory(dir, "test", { waitMs: 0 });
    expect(owner().pid).toBe(process.pid);
    release();
    expect(held()).toBe(false);
  });
});
