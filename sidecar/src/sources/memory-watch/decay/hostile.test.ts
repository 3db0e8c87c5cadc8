import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tree, writeFile } from "./test-support.ts";

/**
 * `clawguard memory decay` (a real process) on a workspace a hostile agent prepared: symbolic
 * links at every level pointing out of the workspace, files and folders it may not read.
 */

const CLI = fileURLToPath(new URL("../../../cli/bin.ts", import.meta.url));
const NOW = "2026-11-20T00:00:00Z";

let ws: string;
let outside: string;
const dirs: { cleanup(): void }[] = [];

beforeEach(() => {
  const w = tempDir("clawguard-decay-hostile-");
  const o = tempDir("clawguard-decay-outside-");
  dirs.push(w, o);
  ws = w.path;
  outside = o.path;
});

afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

/** rel -> content of every regular file under dir; links are listed as "-> target", never followed. */
function contents(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isSymbolicLink()) out[path] = `-> ${readlinkSync(join(dir, path))}`;
    else if (e.isDirectory()) Object.assign(out, contents(dir, path));
    else out[path] = readFileSync(join(dir, path), "utf8");
  }
  return out;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function decay(args: string[], options: { uid?: number; gid?: number } = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, "memory", "decay", ...args], {
    cwd: ws,
    env: { PATH: process.env.PATH, HOME: ws, CLAWGUARD_WORKSPACE: ws },
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

interface Skipped {
  path: string;
  reason: string;
}

function skippedOf(run: Run): Skipped[] {
  expect(run.code, run.stderr).toBe(0);
  const out = JSON.parse(run.stdout) as { plans: { skipped: Skipped[] }[] };
  return out.plans.flatMap((p) => p.skipped);
}

/** What is outside the workspace, dated so that decay would take every file if it got there. */
function plantOutside(): Record<string, string> {
  writeFile(outside, "tmp/2020-01-01-notes.md", "outside tmp");
  writeFile(outside, "weekly/2026-W01.md", "outside weekly");
  writeFile(outside, "archive/2026-01/2026-W01.md", "outside archive");
  writeFile(outside, "trash/2020-01-01/2020-01-01.md", "outside trash");
  writeFile(outside, "trash/2020-01-01.md", "outside trash file");
  writeFile(outside, "decay/journal.json", '{"version":1}');
  writeFile(outside, "memory/2020-01-01.md", "outside memory");
  writeFile(outside, "secret.md", "outside secret");
  return tree(outside);
}

describe("memory decay never leaves the workspace", () => {
  it("refuses a memory/ that is a symbolic link, touching nothing there (exit 2)", async () => {
    const before = plantOutside();
    symlinkSync(join(outside, "memory"), join(ws, "memory"));
    const run = await decay(["--now", NOW]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("memory: memory is a symbolic link");
    expect(tree(outside)).toEqual(before);
  });

  it("refuses a memory/.decay that is a symbolic link (its journal and lock would be elsewhere)", async () => {
    const before = plantOutside();
    writeFile(ws, "memory/2026-11-02.md", "a day");
    symlinkSync(join(outside, "decay"), join(ws, "memory/.decay"));
    const run = await decay(["--now", NOW]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("memory/.decay is a symbolic link");
    expect(tree(outside)).toEqual(before);
  });

  it("does not move a dated file out of a linked memory/tmp into the trash (nor delete it later)", async () => {
    const before = plantOutside();
    writeFile(ws, "memory/2026-11-19.md", "today's log");
    symlinkSync(join(outside, "tmp"), join(ws, "memory/tmp"));
    for (const now of [NOW, "2026-12-31T00:00:00Z"]) {
      const run = await decay(["--now", now, "--json"]);
      expect(tree(outside), `outside after decay at ${now}`).toEqual(before);
      expect(skippedOf(run)).toEqual([
        { path: "memory/tmp/", reason: "a symbolic link: decay never follows one out of the workspace" },
      ]);
    }
    expect(tree(outside)).toEqual(before);
    expect(Object.keys(contents(ws)).filter((p) => p.includes("2020-01-01"))).toEqual([]);
  });

  it("skips linked folders and files at every level below memory/, and does the rest", async () => {
    const before = plantOutside();
    // Links where decay lists, reads, writes and deletes.
    mkdirSync(join(ws, "memory"));
    symlinkSync(join(outside, "tmp"), join(ws, "memory/tmp"));
    symlinkSync(join(outside, "trash"), join(ws, "memory/.trash"));
    symlinkSync(join(outside, "secret.md"), join(ws, "memory/2026-10-01.md"));
    writeFile(ws, "memory/2026-11-02.md", "due, its week's folder is a link");
    symlinkSync(join(outside, "weekly"), join(ws, "memory/weekly"));
    const skipped = skippedOf(await decay(["--now", NOW, "--json"]));
    expect(tree(outside)).toEqual(before);
    expect(skipped).toEqual(
      expect.arrayContaining([
        { path: "memory/2026-10-01.md", reason: "not a regular file" },
        { path: "memory/tmp/", reason: expect.stringMatching(/symbolic link/) },
        { path: "memory/weekly/", reason: expect.stringMatching(/symbolic link/) },
        { path: "memory/.trash/", reason: expect.stringMatching(/symbolic link/) },
        // The day could not go to the trash (a link): it stays, and its week is not written.
        { path: "memory/2026-11-02.md (memory/.trash)", reason: expect.stringMatching(/symbolic link/) },
      ]),
    );
    // The day stays where it is, and no link was replaced or followed.
    expect(contents(ws)).toMatchObject({ "memory/2026-11-02.md": "due, its week's folder is a link" });
    for (const link of ["memory/tmp", "memory/.trash", "memory/weekly", "memory/2026-10-01.md"]) {
      expect(lstatSync(join(ws, link)).isSymbolicLink()).toBe(true);
    }
  });

  it("skips a linked archive month, a linked trash day and a linked file in tmp/ and the trash", async () => {
    const before = plantOutside();
    // weekly/2026-W01 is old enough for the archive; its month folder is a link.
    writeFile(ws, "memory/weekly/2026-W01.md", "");
    mkdirSync(join(ws, "memory/archive"), { recursive: true });
    symlinkSync(join(outside, "archive/2026-01"), join(ws, "memory/archive/2026-01"));
    // A trash day folder that is a link, and a linked file in a real (expired) trash day.
    mkdirSync(join(ws, "memory/.trash/2020-01-02"), { recursive: true });
    symlinkSync(join(outside, "trash/2020-01-01"), join(ws, "memory/.trash/2020-01-01"));
    symlinkSync(join(outside, "trash/2020-01-01.md"), join(ws, "memory/.trash/2020-01-02/x.md"));
    mkdirSync(join(ws, "memory/tmp"));
    symlinkSync(join(outside, "tmp/2020-01-01-notes.md"), join(ws, "memory/tmp/2020-01-01-notes.md"));
    const run = await decay(["--now", NOW, "--json"]);
    const skipped = skippedOf(run);
    expect(tree(outside)).toEqual(before);
    expect(skipped).toEqual(
      expect.arrayContaining([
        { path: "memory/.trash/2020-01-01", reason: "not a YYYY-MM-DD trash folder" },
        { path: "memory/.trash/2020-01-02/x.md", reason: "not a regular file" },
        { path: "memory/tmp/2020-01-01-notes.md", reason: "not a regular file" },
        {
          path: "memory/weekly/2026-W01.md (memory/archive/2026-01)",
          reason: expect.stringMatching(/symbolic link/),
        },
      ]),
    );
    expect(existsSync(join(ws, "memory/weekly/2026-W01.md"))).toBe(true);
  });
});

describe("memory decay and what it may not read", () => {
  const asRoot = process.getuid?.() === 0;
  // Root reads everything: the decay runs as nobody on a workspace nobody owns.
  const as = asRoot ? { uid: 65534, gid: 65534 } : {};
  const chownTree = (dir: string, uid: number) => {
    chownSync(dir, uid, uid);
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) chownTree(join(dir, e.name), uid);
      else chownSync(join(dir, e.name), uid, uid);
    }
  };
  const prepare = () => {
    if (asRoot) {
      chmodSync(ws, 0o755);
      chownTree(ws, 65534);
    }
  };
  const restore = () => {
    for (const p of [join(ws, "memory/weekly"), join(ws, "memory/2026-11-02.md")]) {
      if (existsSync(p)) chmodSync(p, 0o755);
    }
    if (asRoot) chownTree(ws, 0);
  };

  it("skips an unreadable daily log and a folder it may not write, with the reasons, and does the rest", async () => {
    writeFile(ws, "memory/2026-11-02.md", "unreadable");
    writeFile(ws, "memory/2026-11-03.md", "readable");
    writeFile(ws, "memory/tmp/2020-01-01-old.md", "expired, in a read-only folder");
    prepare();
    chmodSync(join(ws, "memory/2026-11-02.md"), 0o000);
    chmodSync(join(ws, "memory/tmp"), 0o555);
    try {
      const run = await decay(["--now", NOW, "--json"], as);
      expect(skippedOf(run)).toEqual([
        { path: "memory/2026-11-02.md", reason: "EACCES: not allowed" },
        { path: "memory/tmp/2020-01-01-old.md (memory/tmp/)", reason: "EACCES: not allowed to write in" },
      ]);
    } finally {
      chmodSync(join(ws, "memory/tmp"), 0o755);
      restore();
    }
    const after = contents(ws);
    expect(after["memory/2026-11-02.md"]).toBe("unreadable");
    expect(after["memory/2026-11-03.md"]).toBeUndefined();
    expect(after["memory/weekly/2026-W45.md"]).toContain("readable");
  });

  it("skips the weeks of an unreadable memory/weekly with the reason (no raw EACCES, exit 0)", async () => {
    writeFile(ws, "memory/2026-11-02.md", "a day");
    writeFile(ws, "memory/weekly/2026-W30.md", "");
    writeFile(ws, "memory/tmp/2020-01-01-old.md", "expires");
    prepare();
    chmodSync(join(ws, "memory/weekly"), 0o000);
    let run: Run;
    try {
      run = await decay(["--now", NOW, "--json"], as);
    } finally {
      restore();
    }
    expect(skippedOf(run)).toEqual([
      { path: "memory/weekly/", reason: "EACCES: not allowed" },
      { path: "memory/weekly/2026-W45.md", reason: "EACCES: not allowed to look inside" },
    ]);
    const after = contents(ws);
    expect(after["memory/2026-11-02.md"]).toBe("a day");
    // What did not depend on the folder was done.
    expect(after["memory/tmp/2020-01-01-old.md"]).toBeUndefined();
    expect(after["memory/.trash/2026-11-20/tmp/2020-01-01-old.md"]).toBe("expires");
  });
});

describe("clawguard memory decay --now", () => {
  it("refuses a date that does not exist, naming it (exit 2), instead of rolling it over", async () => {
    writeFile(ws, "memory/2026-02-20.md", "a day");
    for (const bad of [
      "2026-02-30T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-03-01T24:00:00Z",
      "2026-03-01",
    ]) {
      const run = await decay(["--now", bad]);
      expect(run.code, bad).toBe(2);
      expect(run.stderr).toContain(`--now: expected an RFC 3339 time, got ${JSON.stringify(bad)}`);
      expect(run.stderr).toContain(JSON.stringify(bad));
    }
    expect(existsSync(join(ws, "memory/2026-02-20.md"))).toBe(true);
    const ok = await decay(["--now", "2026-03-01T00:00:00+01:00", "--dry-run"]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
