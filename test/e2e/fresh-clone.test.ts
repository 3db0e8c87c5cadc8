import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../support/processes.ts";

/**
 * The README's quick start from a copy of the repository (what a clone has: the tracked files and
 * new ones not ignored) with only Node and npm on the PATH: the install line verbatim, `start`, and
 * then every hint `start` prints under "Try", run verbatim by a shell (only `<spill-id>` filled in,
 * from the first hint's output). Needs the npm registry (npx fetches pnpm; pnpm installs into its
 * store): without npm it is skipped with a warning, except with CI=true.
 */

const ROOT = new URL("../..", import.meta.url).pathname;
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The PATH's folders that hold no pnpm and no node_modules/.bin: what a machine with Node and npm has. */
function nodeAndNpmPath(): string | undefined {
  const has = (dir: string, name: string) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const dirs = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d && !d.includes("node_modules") && !has(d, "pnpm"));
  return dirs.some((d) => has(d, "npm") && has(d, "npx")) ? dirs.join(delimiter) : undefined;
}

const PATH = nodeAndNpmPath();
if (!PATH) {
  if (process.env.CI === "true") throw new Error("fresh-clone test: no npm on the PATH (CI=true)");
  console.warn("fresh-clone test skipped: no npm and npx on the PATH outside node_modules");
}

const clone = tempDir("clawguard-clone-");
const state = tempDir("clawguard-clone-state-");
const running = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of running) if (child.pid && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
  clone.cleanup();
  state.cleanup();
});

/** What a clone of this repository holds: its tracked files as they are now, and new unignored ones. */
function copyRepository(to: string): void {
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\0")
    .filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    try {
      copyFileSync(join(ROOT, file), join(to, file));
    } catch (err) {
      // A tracked file deleted in this working copy: a clone of it would not have it either.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

const env = () => ({ HOME: process.env.HOME ?? "", PATH: PATH ?? "", XDG_STATE_HOME: state.path });

/** `sh -c line` in the clone, in a process group of its own (killed whole on a timeout). */
function shell(line: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  const child = spawn("sh", ["-c", line], { cwd: clone.path, env: env(), detached: true });
  running.add(child);
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), timeoutMs);
  return once(child, "close").then(([code]) => {
    clearTimeout(timer);
    running.delete(child);
    return { code: code as number | null, out };
  });
}

/** Runs a hint until `done` holds of its output (the sidecar ships within seconds); each run must exit 0. */
async function until(line: string, done: (out: string) => boolean): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { code, out } = await shell(line, 120_000);
    expect(code, `${line}\n${out}`).toBe(0);
    if (done(out)) return out;
    if (Date.now() > deadline) throw new Error(`${line}: still not done after 60 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe.skipIf(!PATH)("quick start from a fresh clone with only Node and npm", () => {
  it("installs, starts, and every hint the start prints works as printed", { timeout: 900_000 }, async () => {
    copyRepository(clone.path);
    const install = /^(npx -y pnpm@[\d.]+ install) && (npx -y pnpm@[\d.]+) start\b/m.exec(README);
    expect(install, "the README's quick start line").not.toBeNull();
    const [, installLine, pnpm] = install as unknown as [string, string, string];
    const installed = await shell(installLine, 600_000);
    expect(installed.code, installed.out).toBe(0);

    // `start` as the README says, on free ports (the defaults may be taken on a test machine).
    const [cport, sport] = [await freePort(), await freePort()];
    const up = spawn(
      "sh",
      ["-c", `${pnpm} start --collector-listen 127.0.0.1:${cport} --sidecar-listen 127.0.0.1:${sport}`],
      { cwd: clone.path, env: env(), detached: true },
    );
    running.add(up);
    let banner = "";
    up.stdout.on("data", (c: Buffer) => {
      banner += c.toString();
    });
    up.stderr.resume();
    const deadline = Date.now() + 180_000;
    while (!/\nCtrl-C stops both\./.test(banner)) {
      if (up.exitCode !== null || Date.now() > deadline) throw new Error(`start did not come up:\n${banner}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const tryBlock = /\nTry, from (.+):\n((?: {2}.+\n)+)/.exec(banner);
    expect(tryBlock?.[1]).toBe(clone.path);
    const hints = (tryBlock?.[2] ?? "")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.replace(/\s+#.*$/, "").trim());
    expect(hints.length).toBe(6);
    for (const hint of hints)
      expect(hint).toMatch(new RegExp(`^(${pnpm} clawguard |CLAWGUARD_|echo |curl )`));

    const exec = await shell(hints[0] as string, 120_000);
    expect(exec.code, exec.out).toBe(0);
    const spill = /spill ([0-9A-Z]{26}) /.exec(exec.out)?.[1];
    expect(spill, exec.out).toBeDefined();
    const read = await shell((hints[1] as string).replace("<spill-id>", spill as string), 120_000);
    expect(read.code, read.out).toBe(0);
    expect(read.out).toContain("1000\n1001\n");
    expect(await until(hints[2] as string, (o) => /exec\.completed/.test(o))).toMatch(/exec\.started/);
    expect(await until(hints[3] as string, (o) => /^ok\s+main\s+[1-9]\d* events/m.test(o))).toBeTruthy();
    await until(hints[4] as string, (o) => / [0-9a-f]{12} {2}stored$/m.test(o));
    const readyz = await shell(hints[5] as string, 30_000);
    expect(readyz.code, readyz.out).toBe(0);
    expect(JSON.parse(readyz.out)).toMatchObject({ ready: true, agent: "main" });

    process.kill(-(up.pid as number), "SIGTERM");
    await once(up, "close");
    running.delete(up);
  });
});
