import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "@clawguard/shared/testing";
import { parseWeekly } from "./weekly-file.ts";

/** Test-only helpers for the decay tests. Never imported by production code. */

export const seeded = seededRandom;

const WORDS = [
  "Grüße",
  "日本語のメモ",
  "🧠 remembered",
  "Ελληνικά",
  "naïve café",
  "user prefers tabs",
  "TODO",
  "ok",
];

/**
 * A day's log as an agent might write it, and the cases that break naive formats: empty, no
 * trailing newline, CRLF, non-ASCII, invalid UTF-8, a big one, and text that looks like decay's
 * own markers for that very day.
 */
export function dayContent(date: string, rnd: () => number): Buffer {
  const r = rnd();
  if (r < 0.05) return Buffer.alloc(0);
  if (r < 0.08) {
    return Buffer.from(
      `# ${date}\n## ${date}\n<!-- clawguard:day ${date} bytes=3 sha256=${"0".repeat(64)} -->\nabc\n<!-- clawguard:end ${date} -->\n`,
    );
  }
  if (r < 0.1)
    return Buffer.concat([Buffer.from(`${date} `), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80])]);
  const lines = r < 0.11 ? 2000 : 1 + Math.floor(rnd() * 40);
  const eol = rnd() < 0.1 ? "\r\n" : "\n";
  let text = `# ${date}${eol}`;
  for (let i = 0; i < lines; i++) {
    text += `- ${WORDS[Math.floor(rnd() * WORDS.length)]} ${Math.floor(rnd() * 1e6)}${eol}`;
  }
  if (rnd() < 0.25) text = text.slice(0, text.length - eol.length); // no trailing newline
  return Buffer.from(text);
}

export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function walk(dir: string, rel = ""): string[] {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(join(dir, e.name), path));
    else out.push(path);
  }
  return out.sort();
}

/** Every file under `dir` with its sha256, and every folder as "dir" (a whole-tree comparison). */
export function tree(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of walk(dir)) if (!skip(rel)) out[rel] = sha(readFileSync(join(dir, rel)));
  for (const rel of walkDirs(dir)) if (!skip(`${rel}/`)) out[`${rel}/`] = "dir";
  return out;
}

function walkDirs(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const path = rel ? `${rel}/${e.name}` : e.name;
    out.push(path, ...walkDirs(join(dir, e.name), path));
  }
  return out.sort();
}

export interface Inventory {
  /** date -> every copy of the day's content in daily files, weekly and archive files. */
  live: Map<string, Buffer[]>;
  /** date -> copies of daily logs in the trash. */
  trash: Map<string, Buffer[]>;
  /** memory/tmp/<name> and the trash's tmp/<name> -> content. */
  temporary: Map<string, Buffer[]>;
  /** Paths that are none of the above. */
  other: string[];
}

/** Where every day's bytes are now, read back from the files decay writes. */
export function inventory(workspace: string): Inventory {
  const memory = join(workspace, "memory");
  const inv: Inventory = { live: new Map(), trash: new Map(), temporary: new Map(), other: [] };
  const add = (map: Map<string, Buffer[]>, key: string, data: Buffer) =>
    map.set(key, [...(map.get(key) ?? []), data]);
  for (const rel of walk(memory)) {
    const data = readFileSync(join(memory, rel));
    const daily = /^(\d{4}-\d{2}-\d{2})\.md$/.exec(rel);
    const week = /^(?:weekly|archive\/\d{4}-\d{2})\/(\d{4}-W\d{2})\.md$/.exec(rel);
    const trashed = /^\.trash\/\d{4}-\d{2}-\d{2}\/(\d{4}-\d{2}-\d{2})(?:~\d+)?\.md$/.exec(rel);
    const temporary = /^(?:\.trash\/\d{4}-\d{2}-\d{2}\/)?tmp\/(.+?)(?:~\d+)?(\.md)?$/.exec(rel);
    if (daily) add(inv.live, daily[1] as string, data);
    else if (week) {
      for (const s of parseWeekly(data, rel, week[1])) add(inv.live, s.date, s.content);
    } else if (trashed) add(inv.trash, trashed[1] as string, data);
    else if (temporary) add(inv.temporary, `${temporary[1]}${temporary[2] ?? ""}`, data);
    else if (!rel.startsWith(".decay/")) inv.other.push(rel);
  }
  return inv;
}

export function writeFile(workspace: string, rel: string, data: Buffer | string): void {
  const path = join(workspace, ...rel.split("/"));
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, data);
}

const wallFormats = new Map<string, Intl.DateTimeFormat>();
function wallFormat(timeZone: string): Intl.DateTimeFormat {
  let f = wallFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    wallFormats.set(timeZone, f);
  }
  return f;
}

/** The instant whose wall clock in `timeZone` reads `date` `time` (for times that exist there). */
export function wallClock(date: string, time: string, timeZone: string): Date {
  const [y, mo, d] = date.split("-").map(Number) as [number, number, number];
  const [h, mi, s, ms] = time.split(/[:.]/).map(Number) as [number, number, number, number?];
  const target = Date.UTC(y, mo - 1, d, h, mi, s, ms ?? 0);
  const f = wallFormat(timeZone);
  const offset = (t: number) => {
    const p: Record<string, number> = {};
    for (const part of f.formatToParts(new Date(t))) p[part.type] = Number(part.value);
    return (
      Date.UTC(p.year as number, (p.month as number) - 1, p.day, p.hour, p.minute, p.second) -
      (t - (t % 1000))
    );
  };
  let t = target - offset(target);
  t = target - offset(t);
  return new Date(t);
}

/**
 * A workspace where one run at RICH_NOW does one of everything: a new weekly file, days added to
 * an existing one, an archive move, a late day into an archived week with a stray weekly file
 * merged into it, a trash name already taken, a temporary file expiring, and purges.
 */
export const RICH_NOW = "2026-11-20T06:00:00.000Z";

export function buildRichWorkspace(ws: string): void {
  const rnd = seeded(42);
  const day = (date: string) => writeFile(ws, `memory/${date}.md`, dayContent(date, rnd));
  for (const d of [
    "2026-11-03",
    "2026-11-04",
    "2026-11-06",
    "2026-11-09",
    "2026-11-12",
    "2026-11-13",
    "2026-11-19",
  ]) {
    day(d);
  }
  writeFile(ws, "memory/2026-11-05.md", ""); // empty
  writeFile(ws, "memory/2026-09-16.md", "a late day of an archived week, no newline");
  const weekly = (week: string, days: [string, string][]) =>
    Buffer.concat([
      Buffer.from(
        `<!-- clawguard:weekly ${week} v1: days compacted by clawguard memory decay, each kept byte for byte after its clawguard:day line (bytes=N); do not edit -->\n`,
      ),
      ...days.map(([date, text]) =>
        Buffer.from(
          `\n## ${date}\n<!-- clawguard:day ${date} bytes=${Buffer.byteLength(text)} sha256=${sha(Buffer.from(text))} -->\n${text}\n<!-- clawguard:end ${date} -->\n`,
        ),
      ),
    ]);
  writeFile(ws, "memory/weekly/2026-W46.md", weekly("2026-W46", [["2026-11-10", "compacted earlier\n"]]));
  writeFile(ws, "memory/weekly/2026-W40.md", weekly("2026-W40", [["2026-09-28", "old week\n"]]));
  writeFile(ws, "memory/archive/2026-09/2026-W38.md", weekly("2026-W38", [["2026-09-14", "archived\n"]]));
  writeFile(ws, "memory/weekly/2026-W38.md", weekly("2026-W38", [["2026-09-15", "restored by hand\n"]]));
  writeFile(ws, "memory/.trash/2026-11-20/2026-11-03.md", "an earlier version, trashed today\n");
  writeFile(ws, "memory/tmp/2025-11-01-scratch.md", "temporary, over a year old\n");
  writeFile(ws, "memory/tmp/2026-01-01-keep.md", "temporary, young\n");
  writeFile(ws, "memory/tmp/notes.md", "no date: never ages\n");
  writeFile(ws, "memory/.trash/2026-10-01/2026-09-20.md", "trashed 50 days ago\n");
  writeFile(ws, "memory/.trash/2026-10-01/tmp/x.md", "trashed 50 days ago too\n");
  writeFile(ws, "memory/.trash/2026-10-25/2026-10-10.md", "trashed 26 days ago\n");
  writeFile(ws, "memory/notes.md", "not decay's\n");
  writeFile(ws, "MEMORY.md", "long-term memory\n");
}
