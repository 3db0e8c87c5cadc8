import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DecayEvent } from "./apply.ts";
import { dayIn, formatDate, formatWeek, isoWeek, parseDate, weekStart } from "./calendar.ts";
import { apply, plan, runDecay } from "./index.ts";
import { dayContent, inventory, seeded, wallClock, writeFile } from "./test-support.ts";

/** A RAM disk when there is one: these tests make thousands of fsyncs, which is not what they test. */
function scratch(prefix: string): { path: string; cleanup: () => void } {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const path = mkdtempSync(join(base, prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

const FIRST = parseDate("2024-01-01") as number;
const LAST = parseDate("2028-12-31") as number; // 5 years, 2 leap days, 2026-W53, many DST changes
/** Long enough after the last log for every week to be archived and the trash to be emptied. */
const END = LAST + 45;
const TIMES = ["00:00:00.000", "23:59:59.999", "12:34:56.789", "01:30:00.000"];

interface Written {
  days: Map<string, Buffer>;
  temporary: Map<string, Buffer>;
}

/** Every day written is in exactly one live place, byte for byte; the trash holds only true copies. */
function checkInventory(ws: string, written: Written, purgedTemporary: Set<string>): void {
  const inv = inventory(ws);
  expect(inv.other).toEqual([]);
  const problems: string[] = [];
  for (const [date, content] of written.days) {
    const copies = inv.live.get(date) ?? [];
    if (copies.length !== 1 || !copies[0]?.equals(content)) {
      problems.push(
        `${date}: ${copies.length} live copies, expected 1 equal to the ${content.length} bytes written`,
      );
    }
    for (const t of inv.trash.get(date) ?? [])
      if (!t.equals(content)) problems.push(`${date}: a wrong trash copy`);
  }
  for (const date of inv.live.keys()) if (!written.days.has(date)) problems.push(`${date}: never written`);
  for (const [name, content] of written.temporary) {
    const copies = inv.temporary.get(name) ?? [];
    const expected = purgedTemporary.has(name) ? 0 : 1;
    if (copies.length !== expected || (expected === 1 && !copies[0]?.equals(content))) {
      problems.push(`temporary ${name}: ${copies.length} copies, expected ${expected}`);
    }
  }
  expect(problems).toEqual([]);
}

describe.each(["UTC", "Europe/Berlin"])("5 years of daily logs decayed day by day in %s", (timeZone) => {
  it("keeps every byte, duplicates none, and acts on the exact day each threshold passes", async () => {
    const tmp = scratch("clawguard-decay-sim-");
    const ws = tmp.path;
    const rnd = seeded(timeZone.length);
    const written: Written = { days: new Map(), temporary: new Map() };
    const purgedTemporary = new Set<string>();
    const config = { timeZone };
    let runs = 0;
    const counts = new Map<string, number>();
    const problems: string[] = [];
    try {
      for (let day = FIRST; day <= END; day++) {
        const date = formatDate(day);
        // The agent writes today's log (some days it writes none), and now and then a scratch file
        // (until a year and a month before the end, so that all of them have expired and been purged).
        if (day <= LAST && rnd() > 0.03) {
          const content = dayContent(date, rnd);
          writeFile(ws, `memory/${date}.md`, content);
          written.days.set(date, content);
        }
        if (day <= LAST - 400 && rnd() < 0.02) {
          const content = Buffer.from(`scratch of ${date}: ${rnd()}`);
          writeFile(ws, `memory/tmp/${date}-scratch.md`, content);
          written.temporary.set(`${date}-scratch.md`, content);
        }
        const now = wallClock(date, TIMES[day % TIMES.length] as string, timeZone);
        if (formatDate(dayIn(now, timeZone)) !== date)
          problems.push(`${now.toISOString()} is not on ${date}`);
        const events: DecayEvent[] = [];
        await runDecay({ workspace: ws, now, config, onEvent: (e) => void events.push(e) });
        runs++;

        // Run daily, every threshold is crossed on exactly the day it passes: age N + 1.
        const age = (path: string) =>
          day - (parseDate(/(\d{4}-\d{2}-\d{2})/.exec(path)?.[1] ?? "") as number);
        for (const { attrs: a } of events) {
          const at = `${date}: ${a.op} ${a.from}`;
          counts.set(a.op, (counts.get(a.op) ?? 0) + 1);
          if (a.op === "compact" && age(a.from) !== 8) problems.push(`${at} at age ${age(a.from)}`);
          if (a.op === "expire" && age(a.from) !== 366) problems.push(`${at} at age ${age(a.from)}`);
          if (a.op === "purge") {
            const trashed = age(a.from.slice("memory/.trash/".length));
            if (trashed !== 31) problems.push(`${at} ${trashed} days after it was trashed`);
            if (a.from.includes("/tmp/")) purgedTemporary.add(a.from.slice(a.from.lastIndexOf("/") + 1));
          }
          if (a.op === "archive") {
            const w = /(\d{4})-W(\d{2})/.exec(a.from) as RegExpExecArray;
            const sunday = weekStart({ year: Number(w[1]), week: Number(w[2]) }) + 6;
            if (day - sunday !== 31) problems.push(`${at} ${day - sunday} days after its Sunday`);
          }
        }
        // What stays: the daily logs of the last 7 days, exactly.
        const dailies = readdirSync(join(ws, "memory"))
          .filter((n) => /^\d{4}-\d{2}-\d{2}\.md$/.test(n))
          .sort();
        const young: string[] = [];
        for (let d = day - 7; d <= day; d++)
          if (written.days.has(formatDate(d))) young.push(`${formatDate(d)}.md`);
        if (dailies.join() !== young.join()) problems.push(`${date}: daily logs ${dailies} != ${young}`);
        expect(problems).toEqual([]);
        if (runs % 61 === 0 || day === END) checkInventory(ws, written, purgedTemporary);
      }
      // Everything has settled: all weeks archived, the trash emptied, every scratch file gone.
      const weekly = existsSync(join(ws, "memory/weekly")) ? readdirSync(join(ws, "memory/weekly")) : [];
      expect(weekly).toEqual([]);
      expect(readdirSync(join(ws, "memory/.trash"))).toEqual([]);
      expect(readdirSync(join(ws, "memory/tmp"))).toEqual([]);
      expect(purgedTemporary.size).toBe(written.temporary.size);
      const lastWeek = isoWeek(LAST);
      expect(existsSync(join(ws, "memory/archive/2028-12", `${lastWeek.year}-W${lastWeek.week}.md`))).toBe(
        true,
      );
      expect(runs).toBe(END - FIRST + 1);
      // Each day compacted once and trashed once; each week archived once; each trashed file purged once.
      const weeks = new Set([...written.days.keys()].map((d) => formatWeek(isoWeek(parseDate(d) as number))));
      expect(Object.fromEntries(counts)).toEqual({
        compact: written.days.size,
        trash: written.days.size,
        archive: weeks.size,
        expire: written.temporary.size,
        purge: written.days.size + written.temporary.size,
      });
    } finally {
      tmp.cleanup();
    }
  }, 60_000);
});

describe("5 years of daily logs decayed in one run", () => {
  it.each([
    ["the temp dir's disk", tmpdir()],
    ["a RAM disk", "/dev/shm"],
  ])(
    "on %s: every byte kept, and how long it takes",
    async (label, base) => {
      if (!existsSync(base)) return;
      const path = mkdtempSync(join(base, "clawguard-decay-5y-"));
      try {
        const rnd = seeded(5);
        const written: Written = { days: new Map(), temporary: new Map() };
        let bytes = 0;
        for (let day = FIRST; day <= LAST; day++) {
          const date = formatDate(day);
          const content = dayContent(date, rnd);
          writeFile(path, `memory/${date}.md`, content);
          written.days.set(date, content);
          bytes += content.length;
        }
        const now = new Date(`${formatDate(END)}T12:00:00Z`);
        const t0 = performance.now();
        const p = plan(path, now, {});
        const t1 = performance.now();
        const result = await apply(p);
        const t2 = performance.now();
        checkInventory(path, written, new Set());
        expect(readdirSync(join(path, "memory")).filter((n) => n.endsWith(".md"))).toEqual([]);
        expect(result.actions.filter((a) => a.op === "compact")).toHaveLength(written.days.size);
        console.info(
          `decay of 5 years (${written.days.size} daily logs, ${(bytes / 1e6).toFixed(1)} MB) in one run on ${label}: ` +
            `plan ${Math.round(t1 - t0)} ms, apply ${Math.round(t2 - t1)} ms (${p.ops.length} steps, ${result.actions.length} moves)`,
        );
      } finally {
        rmSync(path, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
