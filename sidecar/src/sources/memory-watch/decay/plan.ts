import { accessSync, constants, type Dirent, lstatSync, readdirSync } from "node:fs";
import { join, posix } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { isoTime } from "@clawguard/shared/time";
import { ACCESS_DENIED, insidePath, isUnsafePath, readInside } from "../../../workspace-path.ts";
import {
  type DayNumber,
  dayIn,
  formatDate,
  formatMonth,
  formatWeek,
  isoWeek,
  parseDate,
  parseWeek,
  weekStart,
} from "./calendar.ts";
import { type MemoryDecayConfig, parseDecayConfig } from "./config.ts";
import { lstatOrUndefined } from "./durable-fs.ts";
import { readJournal } from "./journal.ts";
import type { CompactSource, DecayOp, DecayPlan, PlannedFile } from "./types.ts";
import { parseWeekly, sha256 } from "./weekly-file.ts";

export type { CompactSource, DecayAction, DecayOp, DecayPlan, PlannedFile } from "./types.ts";

export const MEMORY = "memory";
export const DECAY_DIR = ".decay";
export const TEMP_SUFFIX = ".decay-tmp";
const DAILY = /^(\d{4}-\d{2}-\d{2})\.md$/;
const WEEKLY = /^(\d{4}-W\d{2})\.md$/;
const DATE_PREFIX = /^(\d{4}-\d{2}-\d{2})/;

interface Scan {
  dailies: { rel: string; day: DayNumber }[];
  weekly: Map<string, string>;
  temporary: { rel: string; day: DayNumber }[];
  /** Files in trash folders old enough to be purged. */
  trash: { rel: string; day: DayNumber }[];
  skipped: { path: string; reason: string }[];
}

/**
 * What decay will do to `workspace` at `now`: exactly the operations `apply` carries out. Reads
 * every file it would touch (so an unreadable one fails here, before any change) and checks it may
 * write where it would. A pending journal (an interrupted run) makes the plan its remaining steps.
 */
export function plan(workspace: string, now: Date, config: unknown): DecayPlan {
  const cfg = parseDecayConfig(config);
  if (Number.isNaN(now.getTime()))
    throw new ClawguardError("input.invalid", "memory decay: now is not a date");
  const today = dayIn(now, cfg.timeZone);
  const base: Omit<DecayPlan, "ops" | "skipped"> = {
    workspace,
    now: isoTime(now),
    today: formatDate(today),
    config: cfg,
  };
  const memory = join(workspace, MEMORY);
  const st = statOrFail(workspace, MEMORY);
  if (!st) return { ...base, ops: [], skipped: [] };
  if (!st.isDirectory()) {
    throw new ClawguardError("input.invalid", `memory decay: ${memory} is not a directory`);
  }
  const pending = readJournal(workspace);
  if (pending) {
    // The ops' paths are relative: the volume may be mounted elsewhere in this container.
    const stored = pending.plan ?? { ...base, ops: [], skipped: [] };
    return {
      ...stored,
      workspace,
      ops: stored.ops.slice(pending.next),
      resume: { run: pending.run, from: pending.next },
    };
  }
  return new Planner(workspace, today, cfg, base).build();
}

/** memory/ itself: refused when it is a symbolic link (decay would work outside the workspace). */
function statOrFail(workspace: string, rel: string) {
  try {
    return lstatSync(insidePath(workspace, rel), { throwIfNoEntry: false });
  } catch (err) {
    if (isUnsafePath(err))
      throw new ClawguardError("input.invalid", `memory decay: ${err.message}`, {
        cause: err,
        details: err.details,
      });
    throw cannot("read", rel, err);
  }
}

/**
 * A file or folder decay may not use (a symbolic link, or one it may not read or write): what
 * depends on it is skipped, with this reason, and the rest of the run goes on.
 */
class Skip extends Error {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(reason);
    this.path = path;
  }
}

/** A Skip when `err` says the path may not be used (a link, EACCES/EPERM); else undefined. */
function skipFor(rel: string, err: unknown): Skip | undefined {
  if (err instanceof Skip) return err;
  if (isUnsafePath(err)) {
    if (err.reason === "symlink")
      return new Skip(err.at, "a symbolic link: decay never follows one out of the workspace");
    if (ACCESS_DENIED.has(err.reason)) return new Skip(err.at, `${err.reason}: not allowed to look inside`);
    return undefined;
  }
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (ACCESS_DENIED.has(code)) return new Skip(rel, `${code}: not allowed`);
  if (code === "ELOOP") return new Skip(rel, "a symbolic link: decay never follows one out of the workspace");
  return undefined;
}

function cannot(what: string, rel: string, err: unknown): ClawguardError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new ClawguardError("input.invalid", `memory decay: cannot ${what} ${rel}: ${code}`, { cause: err });
}

class Planner {
  readonly #ws: string;
  readonly #today: DayNumber;
  readonly #cfg: MemoryDecayConfig;
  readonly #base: Omit<DecayPlan, "ops" | "skipped">;
  readonly #problems: string[] = [];
  readonly #skipped: { path: string; reason: string }[] = [];
  readonly #taken = new Set<string>();
  readonly #writable = new Map<string, boolean>();

  constructor(
    ws: string,
    today: DayNumber,
    cfg: MemoryDecayConfig,
    base: Omit<DecayPlan, "ops" | "skipped">,
  ) {
    this.#ws = ws;
    this.#today = today;
    this.#cfg = cfg;
    this.#base = base;
  }

  build(): DecayPlan {
    const scan = this.#scan();
    const cfg = this.#cfg;
    const older = (day: DayNumber, days: number) => this.#today - day > days;

    // Dailies due for compaction, by week.
    const due = new Map<string, { rel: string; day: DayNumber }[]>();
    for (const d of scan.dailies) {
      if (!older(d.day, cfg.dailyToWeeklyDays)) continue;
      const week = formatWeek(isoWeek(d.day));
      due.set(week, [...(due.get(week) ?? []), d]);
    }
    const weeks = [...new Set([...due.keys(), ...scan.weekly.keys()])].sort();
    const archiveOps: DecayOp[] = [];
    const compactOps: DecayOp[] = [];
    for (const week of weeks) {
      const w = parseWeek(week);
      if (!w) continue;
      this.#attempt(`${MEMORY}/weekly/${week}.md`, () => {
        const ops = this.#week(week, weekStart(w), scan.weekly.get(week), due.get(week) ?? []);
        archiveOps.push(...ops.archive);
        compactOps.push(...ops.compact);
      });
    }
    const ops: DecayOp[] = [...archiveOps, ...compactOps];
    for (const t of scan.temporary) {
      if (!older(t.day, cfg.temporaryRetentionDays)) continue;
      this.#attempt(t.rel, () => {
        const f = this.#file(t.rel);
        if (f) ops.push({ op: "expire", ...f, to: this.#trashPath(t.rel) });
      });
    }
    for (const t of scan.trash) {
      this.#attempt(t.rel, () => {
        const f = this.#file(t.rel);
        if (f) ops.push({ op: "purge", ...f });
      });
    }
    if (this.#problems.length > 0) {
      throw new ClawguardError(
        "input.invalid",
        `memory decay of ${this.#ws} cannot run, nothing was changed; ${this.#problems.length} problem(s):\n  - ${this.#problems.join("\n  - ")}`,
        { details: { problems: this.#problems } },
      );
    }
    return { ...this.#base, ops, skipped: [...scan.skipped, ...this.#skipped] };
  }

  /** Runs one unit of planning (a week, a file); a file or folder it may not use skips the unit. */
  #attempt(rel: string, unit: () => void): void {
    try {
      unit();
    } catch (err) {
      const skip = skipFor(rel, err);
      if (!skip) throw err;
      this.#skipped.push({ path: skip.path === rel ? rel : `${rel} (${skip.path})`, reason: skip.message });
    }
  }

  /** One week: its weekly file's move to the archive, and the compaction of its due days. */
  #week(
    week: string,
    monday: DayNumber,
    weeklyRel: string | undefined,
    due: { rel: string; day: DayNumber }[],
  ) {
    const cfg = this.#cfg;
    const archive: DecayOp[] = [];
    const compact: DecayOp[] = [];
    const archivePath = `${MEMORY}/archive/${formatMonth(monday + 3)}/${week}.md`;
    // Where the week's archived file is, if there is one (its month is that of its Thursday).
    const archivedRel = lstatOrUndefined(this.#abs(archivePath))?.isFile() ? archivePath : undefined;
    const archiveAge = this.#today - (monday + 6) > cfg.weeklyToArchiveDays;
    // A week has one home: its archived file once there is one, else weekly/ until it is old enough.
    const target = archivedRel ?? (archiveAge ? archivePath : `${MEMORY}/weekly/${week}.md`);
    const sources: CompactSource[] = [];
    if (weeklyRel && weeklyRel !== target) {
      if (archivedRel) {
        const f = this.#file(weeklyRel, week);
        if (f) sources.push({ ...f, kind: "weekly", date: null, trash: this.#trashPath(weeklyRel) });
      } else {
        const f = this.#file(weeklyRel);
        if (f) archive.push({ op: "archive", ...f, to: target });
        this.#canWrite(target);
      }
    }
    for (const d of due.sort((a, b) => a.day - b.day)) {
      this.#attempt(d.rel, () => {
        const f = this.#file(d.rel);
        if (f) sources.push({ ...f, kind: "daily", date: formatDate(d.day), trash: this.#trashPath(d.rel) });
      });
    }
    if (sources.length === 0) return { archive, compact };
    // Check now that the file the days go into reads back exactly.
    const existing = archivedRel ?? weeklyRel;
    if (existing) this.#file(existing, week);
    this.#canWrite(target);
    compact.push({ op: "compact", week, to: target, sources });
    return { archive, compact };
  }

  /** The path of `rel`; a symbolic link on the way (or a folder it may not look in) is a Skip. */
  #abs(rel: string): string {
    return insidePath(this.#ws, rel);
  }

  /** Reads a file decay will move or delete (and parses it when it is a week's file). */
  #file(rel: string, week?: string): PlannedFile | undefined {
    let data: Buffer;
    try {
      data = readInside(this.#ws, rel);
    } catch (err) {
      const skip = skipFor(rel, err);
      if (skip) throw skip;
      this.#problems.push(cannot("read", rel, err).message);
      return undefined;
    }
    if (week !== undefined) {
      try {
        parseWeekly(data, rel, week);
      } catch (err) {
        this.#problems.push((err as Error).message);
        return undefined;
      }
    }
    this.#canWrite(posix.dirname(rel));
    return { from: rel, bytes: data.length, sha256: sha256(data) };
  }

  /** Whether decay may add and remove entries in the directory at `rel` (or where it would create it). */
  #canWrite(relPath: string): void {
    let rel = relPath;
    for (;;) {
      const st = lstatOrUndefined(this.#abs(rel));
      if (st?.isDirectory() || rel === "." || rel === "") break;
      if (st && !st.isDirectory() && rel !== relPath) {
        this.#problems.push(`memory decay: ${rel} is in the way: a file where a directory is needed`);
        return;
      }
      rel = posix.dirname(rel);
    }
    if (this.#writable.get(rel) === false) throw new Skip(`${rel}/`, "not allowed to write in");
    if (this.#writable.has(rel)) return;
    try {
      accessSync(this.#abs(rel), constants.W_OK | constants.X_OK);
      this.#writable.set(rel, true);
    } catch (err) {
      this.#writable.set(rel, false);
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (ACCESS_DENIED.has(code) || code === "EROFS")
        throw new Skip(`${rel}/`, `${code}: not allowed to write in`);
      this.#problems.push(cannot("write in", `${rel}/`, err).message);
    }
  }

  /** `memory/.trash/<today>/<path under memory/>`, with `~2`, `~3`... when that name is taken. */
  #trashPath(rel: string): string {
    const inner = rel.slice(MEMORY.length + 1);
    const base = `${MEMORY}/.trash/${formatDate(this.#today)}/${inner}`;
    const ext = posix.extname(base);
    const stem = base.slice(0, base.length - ext.length);
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? base : `${stem}~${n}${ext}`;
      if (this.#taken.has(candidate) || lstatOrUndefined(this.#abs(candidate))) continue;
      this.#taken.add(candidate);
      this.#canWrite(posix.dirname(candidate));
      return candidate;
    }
  }

  /** A folder's entries; a folder that is a link or may not be read is skipped, with the reason. */
  #list(rel: string): Dirent[] | undefined {
    try {
      return readdirSync(this.#abs(rel), { withFileTypes: true }).sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "ENOTDIR") {
        this.#problems.push(`memory decay: ${rel} is a file, expected a directory`);
        return undefined;
      }
      const skip = skipFor(rel, err);
      if (skip) {
        this.#skipped.push({ path: `${skip.path}/`, reason: skip.message });
        return undefined;
      }
      this.#problems.push(cannot("list", `${rel}/`, err).message);
      return undefined;
    }
  }

  #scan(): Scan {
    const scan: Scan = {
      dailies: [],
      weekly: new Map(),
      temporary: [],
      trash: [],
      skipped: [],
    };
    const skip = (path: string, reason: string) => scan.skipped.push({ path, reason });
    for (const e of this.#list(MEMORY) ?? []) {
      const rel = `${MEMORY}/${e.name}`;
      const m = DAILY.exec(e.name);
      if (!m) continue;
      const day = parseDate(m[1] as string);
      if (day === undefined) skip(rel, "not a real date");
      else if (!e.isFile()) skip(rel, "not a regular file");
      else scan.dailies.push({ rel, day });
    }
    for (const e of this.#list(`${MEMORY}/weekly`) ?? []) {
      const rel = `${MEMORY}/weekly/${e.name}`;
      if (e.name.endsWith(TEMP_SUFFIX)) continue;
      const m = WEEKLY.exec(e.name);
      if (!m || !parseWeek(m[1] as string)) skip(rel, "not named YYYY-Www.md with a real ISO week");
      else if (!e.isFile()) skip(rel, "not a regular file");
      else scan.weekly.set(m[1] as string, rel);
    }
    for (const e of this.#list(`${MEMORY}/tmp`) ?? []) {
      const rel = `${MEMORY}/tmp/${e.name}`;
      const date = DATE_PREFIX.exec(e.name)?.[1];
      const day = date === undefined ? undefined : parseDate(date);
      if (day === undefined) skip(rel, "temporary files need a YYYY-MM-DD name prefix to age");
      else if (!e.isFile()) skip(rel, "not a regular file");
      else scan.temporary.push({ rel, day });
    }
    for (const e of this.#list(`${MEMORY}/.trash`) ?? []) {
      const rel = `${MEMORY}/.trash/${e.name}`;
      const day = parseDate(e.name);
      if (day === undefined || !e.isDirectory()) {
        skip(rel, "not a YYYY-MM-DD trash folder");
        continue;
      }
      if (this.#today - day <= this.#cfg.trashRetentionDays) continue;
      const walk = (dir: string) => {
        for (const f of this.#list(dir) ?? []) {
          const path = `${dir}/${f.name}`;
          if (f.isDirectory()) walk(path);
          else if (f.isFile()) scan.trash.push({ rel: path, day });
          else skip(path, "not a regular file");
        }
      };
      walk(rel);
    }
    return scan;
  }
}
