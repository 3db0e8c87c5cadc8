import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDate, parseDate } from "./calendar.ts";
import { type DecayAction, runDecay } from "./index.ts";
import {
  buildRichWorkspace,
  dayContent,
  inventory,
  RICH_NOW,
  seeded,
  tree,
  writeFile,
} from "./test-support.ts";

/**
 * kill -9 at every point of a run: a child process decays a copy of a workspace and SIGKILLs itself
 * right after its Nth change on disk, for every N; then a run here finishes the job. The result must
 * be the very tree an uninterrupted run leaves, and every move and deletion must have been reported
 * (at least once).
 */
const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("clawguard-decay-crash-");
});
afterAll(() => tmp.cleanup());

const skipDecayDir = (rel: string) => rel.startsWith("memory/.decay/");
const key = (a: DecayAction) => JSON.stringify([a.op, a.from, a.to, a.bytes, a.sha256]);

/** The child decay; `killAfterMs` after it made its first change on disk, it is SIGKILLed. */
function child(env: Record<string, string>, killAfterMs?: number) {
  const proc = spawn(process.execPath, [CHILD], {
    env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: join(tmp.path, "compile-cache"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let startedAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  proc.stdout.on("data", (d) => {
    stdout += d;
    if (startedAt === undefined && stdout.includes("started")) {
      startedAt = performance.now();
      if (killAfterMs !== undefined) timer = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
    }
  });
  proc.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise<{
    signal: string | null;
    code: number | null;
    stdout: string;
    stderr: string;
    ms: number;
  }>((resolve) =>
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - (startedAt ?? performance.now()) });
    }),
  );
}

/** Runs `tasks` with at most `limit` at a time. */
async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

/** The state an uninterrupted run leaves, its actions, and how many changes on disk it makes. */
async function reference(template: string, now: string) {
  const clean = join(tmp.path, `clean-${Math.random().toString(36).slice(2)}`);
  cpSync(template, clean, { recursive: true });
  const actions: DecayAction[] = [];
  let steps = 0;
  await runDecay({
    workspace: clean,
    now: new Date(now),
    config: {},
    onEvent: ({ attrs: { run: _r, step: _s, ...a } }) => void actions.push(a),
    onStep: (n) => {
      steps = n;
    },
  });
  return { tree: tree(clean, skipDecayDir), actions, steps };
}

/** Finishes an interrupted run; returns the tree, what both runs reported, and what is left in .decay. */
async function finishAndCheck(ws: string, now: string, eventsFile: string) {
  const reported = existsSync(eventsFile)
    ? readFileSync(eventsFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const { run: _r, step: _s, ...a } = JSON.parse(line) as DecayAction & { run: string; step: number };
          return key(a);
        })
    : [];
  await runDecay({
    workspace: ws,
    now: new Date(now),
    config: {},
    onEvent: ({ attrs: { run: _r, step: _s, ...a } }) => void reported.push(key(a)),
  });
  return { tree: tree(ws, skipDecayDir), reported: new Set(reported), left: leftovers(ws) };
}

/** What is in memory/.decay/ besides a lock left by a killed holder. */
function leftovers(ws: string): string[] {
  const dir = join(ws, "memory/.decay");
  return existsSync(dir) ? readdirSync(dir).filter((n) => n !== "LOCK") : [];
}

describe("memory decay killed with SIGKILL", () => {
  it("loses and duplicates nothing whichever change it is killed after, and the next run finishes", async () => {
    const template = join(tmp.path, "rich");
    mkdirSync(template);
    buildRichWorkspace(template);
    const ref = await reference(template, RICH_NOW);
    expect(ref.steps).toBeGreaterThan(100);
    const startedAt = performance.now();
    const outcomes = await pool(
      4,
      Array.from({ length: ref.steps }, (_, i) => async () => {
        const n = i + 1;
        const ws = join(tmp.path, `kill-at-${n}`);
        cpSync(template, ws, { recursive: true });
        const events = join(tmp.path, `kill-at-${n}.events`);
        const killed = await child({
          DECAY_WS: ws,
          DECAY_NOW: RICH_NOW,
          DECAY_KILL_AT: String(n),
          DECAY_EVENTS: events,
        });
        const after = await finishAndCheck(ws, RICH_NOW, events);
        return { n, killed, after };
      }),
    );
    const elapsed = performance.now() - startedAt;
    const expected = new Set(ref.actions.map(key));
    const problems: string[] = [];
    for (const { n, killed, after } of outcomes) {
      if (killed.signal !== "SIGKILL")
        problems.push(`N=${n}: the child was not killed: ${killed.code} ${killed.stderr}`);
      if (JSON.stringify(after.tree) !== JSON.stringify(ref.tree)) {
        const diff = Object.keys({ ...after.tree, ...ref.tree }).filter((k) => after.tree[k] !== ref.tree[k]);
        problems.push(`N=${n}: the tree differs at ${diff.join(", ")}`);
      }
      const missing = [...expected].filter((k) => !after.reported.has(k));
      const extra = [...after.reported].filter((k) => !expected.has(k));
      if (missing.length > 0) problems.push(`N=${n}: never reported: ${missing.join("; ")}`);
      if (extra.length > 0) problems.push(`N=${n}: reported but not done: ${extra.join("; ")}`);
      if (after.left.length > 0) problems.push(`N=${n}: left in memory/.decay: ${after.left.join(", ")}`);
    }
    expect(problems).toEqual([]);
    console.info(
      `decay crash test: killed after each of ${ref.steps} changes on disk, ${Math.round(elapsed)} ms`,
    );
  }, 60_000);

  it("keeps every byte of a year of logs when killed at random times, and when finished on a later day", async () => {
    const template = join(tmp.path, "year");
    mkdirSync(template);
    const rnd = seeded(2026);
    const days = new Map<string, Buffer>();
    for (let d = parseDate("2025-06-01") as number; d <= (parseDate("2026-05-31") as number); d++) {
      const date = formatDate(d);
      const content = dayContent(date, rnd);
      writeFile(template, `memory/${date}.md`, content);
      days.set(date, content);
    }
    const now = "2026-06-15T10:00:00Z";
    const ref = await reference(template, now);
    // How long an uninterrupted child decays, to spread the kills over it.
    const timing = join(tmp.path, "year-timing");
    cpSync(template, timing, { recursive: true });
    const full = await child({ DECAY_WS: timing, DECAY_NOW: now });
    expect(full.stdout).toMatch(/done \d+/);
    const runMs = full.ms;
    const delays = Array.from({ length: 8 }, (_, i) => Math.round(((i + 0.5) / 8) * 0.8 * runMs));
    // First all the kills (nothing else running here, so the timers fire on time), then the finishing runs.
    const killed = await pool(
      2,
      delays.map((ms, i) => async () => {
        const ws = join(tmp.path, `year-kill-${i}`);
        cpSync(template, ws, { recursive: true });
        const events = join(tmp.path, `year-kill-${i}.events`);
        return {
          ms,
          ws,
          events,
          result: await child({ DECAY_WS: ws, DECAY_NOW: now, DECAY_EVENTS: events }, ms),
        };
      }),
    );
    const outcomes = [];
    for (const [i, { ws, events, result }] of killed.entries()) {
      // Half of them are finished at the same time (same tree), half a day later (same bytes).
      let after: { tree?: Record<string, string>; left: string[] };
      if (i % 2 === 0) after = await finishAndCheck(ws, now, events);
      else {
        await runDecay({ workspace: ws, now: new Date("2026-06-16T10:00:00Z"), config: {} });
        after = { left: leftovers(ws) };
      }
      outcomes.push({ killed: result, ws, after });
    }
    let killedMidRun = 0;
    for (const { killed, ws, after } of outcomes) {
      if (killed.signal === "SIGKILL" && !/done/.test(killed.stdout)) killedMidRun++;
      if (after.tree) expect(after.tree).toEqual(ref.tree);
      expect(after.left).toEqual([]);
      const inv = inventory(ws);
      for (const [date, content] of days) {
        expect(inv.live.get(date)?.length, date).toBe(1);
        expect(inv.live.get(date)?.[0]?.equals(content), date).toBe(true);
      }
      expect([...inv.live.keys()].length).toBe(days.size);
    }
    expect(killedMidRun).toBeGreaterThanOrEqual(4);
    console.info(
      `decay crash test: a year of logs (${days.size} days, ${ref.steps} changes) takes a child ${Math.round(runMs)} ms; ${killedMidRun} of ${delays.length} timed kills hit mid-run`,
    );
  }, 60_000);
});
