import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ClawguardError, isClawguardError } from "@clawguard/shared/errors";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DecayEvent } from "./apply.ts";
import {
  apply,
  DECAY_LOCKED,
  type DecayAction,
  formatAction,
  formatPlan,
  plan,
  planActions,
  runDecay,
} from "./index.ts";
import { buildRichWorkspace, inventory, RICH_NOW, sha, tree, writeFile } from "./test-support.ts";
import { parseWeekly } from "./weekly-file.ts";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));

let tmp: ReturnType<typeof tempDir>;
let ws: string;

beforeEach(() => {
  tmp = tempDir("clawguard-decay-");
  ws = tmp.path;
});
afterEach(() => tmp.cleanup());

const actionOf = (e: DecayEvent): DecayAction => {
  const { run: _r, step: _s, ...action } = e.attrs;
  return action;
};

async function decay(now: string | Date, config: Record<string, unknown> = {}) {
  const events: DecayEvent[] = [];
  const out = await runDecay({
    workspace: ws,
    now: new Date(now),
    config,
    onEvent: (e) => void events.push(e),
  });
  return { ...out, events, actions: events.map(actionOf) };
}

const files = () =>
  Object.keys(tree(join(ws, "memory"), (rel) => rel.startsWith(".decay/") || rel.endsWith("/")));
const read = (rel: string) => readFileSync(join(ws, rel));
const weekDays = (rel: string) => parseWeekly(read(rel), rel).map((s) => [s.date, s.content.toString()]);

describe("memory decay thresholds", () => {
  it("compacts a daily log at 8 days old, not at 7, by the date in the configured zone", async () => {
    writeFile(ws, "memory/2026-11-02.md", "monday\n");
    await decay("2026-11-09T23:59:59.999Z"); // 7 days old in UTC
    expect(files()).toEqual(["2026-11-02.md"]);
    // 23:00 UTC is already 2026-11-10 in Berlin: 8 days old there.
    const berlin = await decay("2026-11-09T23:00:00.000Z", { timeZone: "Europe/Berlin" });
    expect(files()).toEqual([".trash/2026-11-10/2026-11-02.md", "weekly/2026-W45.md"]);
    expect(weekDays("memory/weekly/2026-W45.md")).toEqual([["2026-11-02", "monday\n"]]);
    expect(berlin.actions.map((a) => [a.op, a.from, a.to])).toEqual([
      ["compact", "memory/2026-11-02.md", "memory/weekly/2026-W45.md"],
      ["trash", "memory/2026-11-02.md", "memory/.trash/2026-11-10/2026-11-02.md"],
    ]);
    expect(berlin.actions[0]).toMatchObject({ bytes: 7, sha256: sha(Buffer.from("monday\n")) });
  });

  it("archives a weekly file when its Sunday is 31 days old, into the month of its Thursday", async () => {
    writeFile(ws, "memory/2026-12-31.md", "thursday of 2026-W53\n");
    writeFile(ws, "memory/2027-01-03.md", "sunday of 2026-W53\n");
    writeFile(ws, "memory/2024-12-30.md", "monday of 2025-W01\n");
    await decay("2027-01-11T12:00:00Z");
    expect(files()).toEqual([
      ".trash/2027-01-11/2024-12-30.md",
      ".trash/2027-01-11/2026-12-31.md",
      ".trash/2027-01-11/2027-01-03.md",
      "archive/2025-01/2025-W01.md", // Thursday 2025-01-02: archived at once (its Sunday is long past)
      "weekly/2026-W53.md",
    ]);
    await decay("2027-02-02T23:59:59Z"); // Sunday 2027-01-03 + 30
    expect(files()).toContain("weekly/2026-W53.md");
    const archived = await decay("2027-02-03T00:00:00Z");
    expect(files()).toContain("archive/2026-12/2026-W53.md");
    expect(archived.actions.filter((a) => a.op === "archive").map((a) => [a.from, a.to])).toEqual([
      ["memory/weekly/2026-W53.md", "memory/archive/2026-12/2026-W53.md"],
    ]);
    expect(weekDays("memory/archive/2026-12/2026-W53.md")).toEqual([
      ["2026-12-31", "thursday of 2026-W53\n"],
      ["2027-01-03", "sunday of 2026-W53\n"],
    ]);
  });

  it("deletes from the trash at 31 days there, not at 30, and only what was trashed that long ago", async () => {
    writeFile(ws, "memory/2026-11-02.md", "x");
    await decay("2026-11-10T00:00:00Z");
    writeFile(ws, "memory/2026-11-03.md", "y");
    await decay("2026-11-11T00:00:00Z");
    await decay("2026-12-10T23:59:59.999Z");
    expect(files().filter((f) => f.startsWith(".trash/"))).toEqual([
      ".trash/2026-11-10/2026-11-02.md",
      ".trash/2026-11-11/2026-11-03.md",
    ]);
    const purged = await decay("2026-12-11T00:00:00Z");
    expect(purged.actions).toEqual([
      {
        op: "purge",
        from: "memory/.trash/2026-11-10/2026-11-02.md",
        to: null,
        bytes: 1,
        sha256: sha(Buffer.from("x")),
      },
    ]);
    expect(existsSync(join(ws, "memory/.trash/2026-11-10"))).toBe(false); // emptied folders go too
    expect(files().filter((f) => f.startsWith(".trash/"))).toEqual([".trash/2026-11-11/2026-11-03.md"]);
    expect(inventory(ws).live.get("2026-11-02")?.map(String)).toEqual(["x"]); // still in its week
  });

  it("moves temporary files (memory/tmp/YYYY-MM-DD*) to the trash after 365 days, never undated ones", async () => {
    writeFile(ws, "memory/tmp/2025-11-10-scratch.md", "scratch");
    writeFile(ws, "memory/tmp/notes.md", "undated");
    const young = await decay("2026-11-10T12:00:00Z");
    expect(young.actions).toEqual([]);
    expect(young.plans[0]?.skipped).toEqual([
      { path: "memory/tmp/notes.md", reason: "temporary files need a YYYY-MM-DD name prefix to age" },
    ]);
    const old = await decay("2026-11-11T00:00:00Z");
    expect(old.actions.map((a) => [a.op, a.from, a.to])).toEqual([
      ["expire", "memory/tmp/2025-11-10-scratch.md", "memory/.trash/2026-11-11/tmp/2025-11-10-scratch.md"],
    ]);
    expect(files()).toEqual([".trash/2026-11-11/tmp/2025-11-10-scratch.md", "tmp/notes.md"]);
  });

  it("takes thresholds from the config", async () => {
    writeFile(ws, "memory/2026-11-02.md", "x");
    const config = { dailyToWeeklyDays: 1, weeklyToArchiveDays: 2, trashRetentionDays: 3 };
    await decay("2026-11-03T00:00:00Z", config);
    expect(files()).toEqual(["2026-11-02.md"]);
    await decay("2026-11-04T00:00:00Z", config);
    expect(files()).toEqual([".trash/2026-11-04/2026-11-02.md", "weekly/2026-W45.md"]);
    await decay("2026-11-07T23:59:59Z", config);
    expect(files()).toEqual([".trash/2026-11-04/2026-11-02.md", "weekly/2026-W45.md"]);
    await decay("2026-11-08T00:00:00Z", config); // trashed 4 days ago
    expect(files()).toEqual(["weekly/2026-W45.md"]);
    await decay("2026-11-10T23:59:59Z", config); // its Sunday, 11-08, is 2 days old
    expect(files()).toEqual(["weekly/2026-W45.md"]);
    await decay("2026-11-11T00:00:00Z", config);
    expect(files()).toEqual(["archive/2026-11/2026-W45.md"]);
    await decay("2026-11-08T00:00:00Z", config); // a clock going back does no harm
    expect(files()).toEqual(["archive/2026-11/2026-W45.md"]);
  });
});

describe("memory decay of days that come late or twice", () => {
  it("puts a late day into its week's archived file, and keeps a day written again as a second section", async () => {
    writeFile(ws, "memory/2026-09-16.md", "first");
    await decay("2026-11-20T00:00:00Z");
    expect(files()).toEqual([".trash/2026-11-20/2026-09-16.md", "archive/2026-09/2026-W38.md"]);
    writeFile(ws, "memory/2026-09-16.md", "written again");
    writeFile(ws, "memory/2026-09-17.md", "late");
    await decay("2026-11-20T01:00:00Z");
    expect(weekDays("memory/archive/2026-09/2026-W38.md")).toEqual([
      ["2026-09-16", "first"],
      ["2026-09-16", "written again"],
      ["2026-09-17", "late"],
    ]);
    expect(files()).toContain(".trash/2026-11-20/2026-09-16~2.md");
    writeFile(ws, "memory/2026-09-16.md", "first"); // the same bytes again: not added twice
    const again = await decay("2026-11-21T00:00:00Z");
    expect(again.actions.map((a) => a.op)).toEqual(["compact", "trash"]);
    expect(inventory(ws).live.get("2026-09-16")?.map(String)).toEqual(["first", "written again"]);
  });

  it("does one of everything in one run, and the dry run printed exactly that", async () => {
    buildRichWorkspace(ws);
    const before = tree(ws);
    const p = plan(ws, new Date(RICH_NOW), {});
    expect(tree(ws)).toEqual(before); // a dry run touches nothing
    expect(existsSync(join(ws, "memory/.decay"))).toBe(false);
    const printed = formatPlan(p);
    const real = await decay(RICH_NOW);
    expect(real.plans).toHaveLength(1);
    expect(real.actions).toEqual(planActions(p));
    expect(printed.split("\n").filter((l) => l.startsWith("  ") && !l.startsWith("  skipped"))).toEqual(
      real.actions.map((a) => `  ${formatAction(a)}`),
    );
    expect(new Set(real.events.map((e) => e.attrs.run)).size).toBe(1);
    expect(real.events.map((e) => e.attrs.step)).toEqual([
      0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5, 6,
    ]);
    expect(real.actions.map((a) => a.op)).toEqual([
      "archive",
      ...["merge", "compact", "trash", "trash"],
      ...["compact", "compact", "compact", "compact", "trash", "trash", "trash", "trash"],
      ...["compact", "compact", "trash", "trash"],
      "expire",
      "purge",
      "purge",
    ]);
    expect(weekDays("memory/archive/2026-09/2026-W38.md")).toEqual([
      ["2026-09-14", "archived\n"],
      ["2026-09-15", "restored by hand\n"],
      ["2026-09-16", "a late day of an archived week, no newline"],
    ]);
    expect(weekDays("memory/weekly/2026-W46.md").map(([d]) => d)).toEqual([
      "2026-11-09",
      "2026-11-10",
      "2026-11-12",
    ]);
    expect(read("memory/.trash/2026-11-20/2026-11-03.md").toString()).toBe(
      "an earlier version, trashed today\n",
    );
    expect(existsSync(join(ws, "memory/.trash/2026-10-01"))).toBe(false);
    expect(readdirSync(join(ws, "memory/.decay"))).toEqual([]); // journal, plan and lock are gone
    // A second run at the same time has nothing to do.
    expect((await decay(RICH_NOW)).actions).toEqual([]);
  });

  it("refuses to apply a plan the workspace no longer matches, changing nothing", async () => {
    buildRichWorkspace(ws);
    const p = plan(ws, new Date(RICH_NOW), {});
    writeFile(ws, "memory/2026-11-01.md", "appeared after planning");
    const before = tree(ws);
    const err = await apply(p).catch((e: unknown) => e);
    expect(isClawguardError(err, "input.invalid")).toBe(true);
    expect((err as ClawguardError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/changed since the plan was made.*plan again/);
    expect(tree(ws, (rel) => rel.startsWith("memory/.decay/"))).toEqual(before);
  });
});

describe("memory decay while the agent writes", () => {
  it("keeps what the agent appended to a day between decay reading it and moving it to the trash", async () => {
    writeFile(ws, "memory/2026-11-02.md", "before\n");
    const events: DecayEvent[] = [];
    await runDecay({
      workspace: ws,
      now: new Date("2026-11-10T00:00:00Z"),
      config: {},
      onEvent: (e) => void events.push(e),
      onStep: (_n, label) => {
        // The week is written; the original is not in the trash yet: the agent appends to it.
        if (label.startsWith("rename ") && label.endsWith("2026-W45.md")) {
          writeFileSync(join(ws, "memory/2026-11-02.md"), "before\nappended late\n");
        }
      },
    });
    expect(weekDays("memory/weekly/2026-W45.md")).toEqual([
      ["2026-11-02", "before\n"],
      ["2026-11-02", "before\nappended late\n"],
    ]);
    expect(read("memory/.trash/2026-11-10/2026-11-02.md").toString()).toBe("before\nappended late\n");
    expect(events.map((e) => [e.attrs.op, e.attrs.bytes])).toEqual([
      ["compact", 7],
      ["trash", 21],
      ["compact", 21],
    ]);
  });

  it("never overwrites a week's file the agent edited while decay was writing it", async () => {
    writeFile(ws, "memory/2026-11-02.md", "monday\n");
    await decay("2026-11-10T00:00:00Z");
    writeFile(ws, "memory/2026-11-03.md", "tuesday\n");
    const edited = "\n- a line the agent added to the weekly file\n";
    const err = await runDecay({
      workspace: ws,
      now: new Date("2026-11-11T00:00:00Z"),
      config: {},
      onStep: (_n, label) => {
        if (label.startsWith("fsync ") && label.endsWith(".decay-tmp")) {
          appendFileSync(join(ws, "memory/weekly/2026-W45.md"), edited);
        }
      },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /memory\/weekly\/2026-W45\.md: not a clawguard weekly file at byte/,
    );
    expect(read("memory/weekly/2026-W45.md").toString().endsWith(edited)).toBe(true);
    expect(read("memory/2026-11-03.md").toString()).toBe("tuesday\n"); // not trashed: not in the week
  });
});

describe("memory decay of bad input", () => {
  it("refuses a weekly file it cannot read back exactly, naming it, and changes nothing", async () => {
    buildRichWorkspace(ws);
    writeFile(ws, "memory/weekly/2026-W46.md", "# my own notes, not decay's\n");
    const before = tree(ws);
    const err = await decay(RICH_NOW).catch((e: unknown) => e);
    expect(isClawguardError(err, "input.invalid")).toBe(true);
    expect((err as Error).message).toMatch(
      /cannot run, nothing was changed; 1 problem\(s\):\n {2}- memory\/weekly\/2026-W46\.md: not a clawguard weekly file at byte 0/,
    );
    expect(tree(ws)).toEqual(before);
  });

  it("refuses a bad config, listing every problem, and changes nothing", async () => {
    buildRichWorkspace(ws);
    const before = tree(ws);
    const err = await decay(RICH_NOW, { dailyToWeeklyDays: -1, timeZone: "Berlin" }).catch((e: unknown) => e);
    expect(isClawguardError(err, "config.invalid")).toBe(true);
    expect((err as Error).message).toMatch(/2 problem.*dailyToWeeklyDays.*\n.*timeZone/s);
    expect(tree(ws)).toEqual(before);
  });

  it("refuses a corrupt journal, naming it, and changes nothing", async () => {
    buildRichWorkspace(ws);
    writeFile(ws, "memory/.decay/journal.json", "{not json");
    const before = tree(ws);
    const err = await decay(RICH_NOW).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/journal .*journal\.json of an interrupted run is unreadable/);
    expect(tree(ws)).toEqual(before);
  });

  it("leaves alone what is not its own: bad dates, folders named like days, links", async () => {
    writeFile(ws, "memory/2026-02-30.md", "no such day");
    writeFile(ws, "memory/2026-01-05.md/inner.md", "a folder named like a day");
    writeFile(ws, "memory/weekly/2027-W53.md", "no such week");
    const { plans, actions } = await decay("2026-11-20T00:00:00Z");
    expect(actions).toEqual([]);
    expect(plans[0]?.skipped).toEqual([
      { path: "memory/2026-01-05.md", reason: "not a regular file" },
      { path: "memory/2026-02-30.md", reason: "not a real date" },
      { path: "memory/weekly/2027-W53.md", reason: "not named YYYY-Www.md with a real ISO week" },
    ]);
  });
  // Unreadable files and folders it may not write: hostile.test.ts.
});

function runChild(
  env: Record<string, string>,
  options: { uid?: number; gid?: number } = {},
  onStdout?: (text: string, child: ChildProcess) => void,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CHILD], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
    onStdout?.(stdout, child);
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

describe("memory decay lock", () => {
  it("lets one decayer at a time run in a process: the second gets the lock error and changes nothing", async () => {
    buildRichWorkspace(ws);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let first = true;
    const running = runDecay({
      workspace: ws,
      now: new Date(RICH_NOW),
      config: {},
      onEvent: async () => {
        if (first) {
          first = false;
          await gate; // hold the lock, mid-run
        }
      },
    });
    const during = tree(ws);
    const err = await decay(RICH_NOW).catch((e: unknown) => e);
    expect(isClawguardError(err, DECAY_LOCKED)).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`is being decayed by pid ${process.pid} on host `));
    expect((err as ClawguardError).details?.holder).toMatchObject({ pid: process.pid });
    expect(tree(ws)).toEqual(during);
    release();
    await running;
    expect((await decay(RICH_NOW)).actions).toEqual([]);
  });

  it("refuses a second run while another process decays, and finishes that run once it was killed", async () => {
    buildRichWorkspace(ws);
    const clean = tempDir("clawguard-decay-clean-");
    try {
      buildRichWorkspace(clean.path);
      await runDecay({ workspace: clean.path, now: new Date(RICH_NOW), config: {} });
      let paused!: () => void;
      const isPaused = new Promise<void>((r) => {
        paused = r;
      });
      let child: ChildProcess | undefined;
      const exited = runChild({ DECAY_WS: ws, DECAY_NOW: RICH_NOW, DECAY_PAUSE_AT: "40" }, {}, (out, c) => {
        child = c;
        if (out.includes("paused")) paused();
      });
      await Promise.race([
        isPaused,
        exited.then((r) => Promise.reject(new Error(`child ended: ${r.stderr}`))),
      ]);
      const during = tree(ws);
      const err = await decay(RICH_NOW).catch((e: unknown) => e);
      expect(isClawguardError(err, DECAY_LOCKED)).toBe(true);
      expect((err as Error).message).toMatch(
        new RegExp(`being decayed by pid ${child?.pid} on host \\S+ \\(since `),
      );
      expect(tree(ws)).toEqual(during);
      child?.kill("SIGKILL");
      expect((await exited).signal).toBe("SIGKILL");
      const resumed = await decay(RICH_NOW); // takes over the dead holder's lock, finishes its journal
      expect(resumed.plans[0]?.resume).toBeDefined();
      const skipDecay = (rel: string) => rel.startsWith("memory/.decay/");
      expect(tree(ws, skipDecay)).toEqual(tree(clean.path, skipDecay));
    } finally {
      clean.cleanup();
    }
  });
});
