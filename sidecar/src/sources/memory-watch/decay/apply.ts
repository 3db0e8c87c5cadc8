import { closeSync, constants, openSync, readFileSync as readFd, type Stats } from "node:fs";
import { dirname } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { ulid } from "@clawguard/shared/ids";
import { insidePath } from "../../../workspace-path.ts";
import { DurableFs, lstatOrUndefined, type StepHook, sameFile } from "./durable-fs.ts";
import { advanceJournal, decayDir, finishJournal, removeJournalLeftovers, startJournal } from "./journal.ts";
import { acquireDecayLock } from "./lock.ts";
import {
  type CompactSource,
  type DecayAction,
  type DecayOp,
  type DecayPlan,
  MEMORY,
  plan as makePlan,
  TEMP_SUFFIX,
} from "./plan.ts";
import {
  type DaySection,
  daySection,
  encodeWeekly,
  mergeSections,
  parseWeekly,
  sha256,
} from "./weekly-file.ts";

/** What the caller turns into an audit event (it adds source, id and time). */
export interface DecayEvent {
  type: "memory.decayed";
  severity: "info";
  /** `run` and `step` identify the step: a step redone after a crash reports it again (at least once). */
  attrs: DecayAction & { run: string; step: number };
}

export interface ApplyOptions {
  /** Awaited for every move and deletion before the journal moves past its step. */
  onEvent?: (event: DecayEvent) => void | Promise<void>;
  /** Called after each change on disk (the crash tests kill the process in it). */
  onStep?: StepHook;
}

export interface DecayResult {
  /** The run's id, or null when there was nothing to do. */
  run: string | null;
  /** Whether this finished an interrupted run. */
  resumed: boolean;
  actions: DecayAction[];
  /** Sources that vanished before their step (removed by someone else): nothing of them was touched. */
  warnings: string[];
}

interface Ctx {
  ws: string;
  fs: DurableFs;
  warnings: string[];
}

/** Every path is checked just before use: a symbolic link planted since the plan stops the step. */
const abs = (ws: string, rel: string) => insidePath(ws, rel);

/** Reads a file, never through a symbolic link. */
function readFileSync(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return readFd(fd);
  } finally {
    closeSync(fd);
  }
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Carries out a plan, under the workspace's decay lock and with a journal, so that a crash at
 * any point loses and duplicates nothing: the next run finishes the steps. The plan must be what
 * `plan()` returns for the workspace now (it is checked again under the lock); else nothing is
 * done and the error says to plan again.
 */
export async function apply(plan: DecayPlan, options: ApplyOptions = {}): Promise<DecayResult> {
  const ws = plan.workspace;
  if (plan.ops.length === 0 && !plan.resume) return { run: null, resumed: false, actions: [], warnings: [] };
  const fs = new DurableFs(options.onStep);
  const lock = acquireDecayLock(fs, decayDir(ws), plan.config.lockStaleMs, `the memory of ${ws}`);
  try {
    const current = makePlan(ws, new Date(plan.now), plan.config);
    if (JSON.stringify([current.ops, current.resume]) !== JSON.stringify([plan.ops, plan.resume])) {
      throw new ClawguardError(
        "input.invalid",
        `memory decay of ${ws}: the workspace changed since the plan was made (or another run went first); nothing was changed, plan again`,
        { retryable: true },
      );
    }
    removeJournalLeftovers(fs, ws);
    const run = plan.resume?.run ?? ulid();
    const first = plan.resume?.from ?? 0;
    if (!plan.resume) startJournal(fs, ws, run, plan);
    const ctx: Ctx = { ws, fs, warnings: [] };
    const actions: DecayAction[] = [];
    for (let i = 0; i < plan.ops.length; i++) {
      const step = first + i;
      lock.refresh();
      const done = runOp(ctx, plan.ops[i] as DecayOp);
      for (const action of done) {
        await options.onEvent?.({
          type: "memory.decayed",
          severity: "info",
          attrs: { ...action, run, step },
        });
      }
      actions.push(...done);
      advanceJournal(fs, ws, run, step + 1, first + plan.ops.length);
    }
    finishJournal(fs, ws, run);
    return { run, resumed: plan.resume !== undefined, actions, warnings: ctx.warnings };
  } finally {
    lock.release();
  }
}

function runOp(ctx: Ctx, op: DecayOp): DecayAction[] {
  switch (op.op) {
    case "compact":
      return compact(ctx, op);
    case "archive":
    case "expire": {
      const state = finishMove(ctx, op.from, op.to);
      if (state === "missing") return [];
      const data = readFileSync(abs(ctx.ws, op.to));
      return [{ op: op.op, from: op.from, to: op.to, bytes: data.length, sha256: sha256(data) }];
    }
    case "purge": {
      const path = abs(ctx.ws, op.from);
      if (lstatOrUndefined(path)) ctx.fs.unlink(path);
      ctx.fs.pruneEmptyDirs(dirname(path), abs(ctx.ws, `${MEMORY}/.trash`));
      return [{ op: "purge", from: op.from, to: null, bytes: op.bytes, sha256: op.sha256 }];
    }
  }
}

/**
 * Moves `from` to `to`, or finishes such a move cut short by a crash (both names are then the
 * same file). "done" when it was done before; "missing" when neither name exists.
 */
function finishMove(ctx: Ctx, fromRel: string, toRel: string): "moved" | "done" | "missing" {
  const [from, to] = [abs(ctx.ws, fromRel), abs(ctx.ws, toRel)];
  const [a, b] = [lstatOrUndefined(from), lstatOrUndefined(to)];
  if (a && b) {
    if (!sameFile(a, b)) {
      throw new ClawguardError(
        "internal",
        `memory decay: cannot move ${fromRel} to ${toRel}: another file is already there; nothing was replaced`,
      );
    }
    ctx.fs.unlink(from);
    return "moved";
  }
  if (a) {
    ctx.fs.move(from, to);
    return "moved";
  }
  if (b) return "done";
  ctx.warnings.push(`${fromRel} vanished before decay could move it to ${toRel}`);
  return "missing";
}

interface Found {
  source: CompactSource;
  data: Buffer;
  sections: DaySection[];
  /** Still at its place (else it is in the trash already: an interrupted run moved it). */
  inPlace: boolean;
}

function sectionsOf(source: CompactSource, data: Buffer, file: string): DaySection[] {
  return source.kind === "daily" ? [daySection(source.date as string, data)] : parseWeekly(data, file);
}

/**
 * A week's compaction: the week's file gets every section of the sources it lacks (one atomic
 * rewrite), then the sources go to the trash. Redone after a crash, it finds the sections there
 * and only moves what is left; a source already in the trash is checked against the week again.
 */
function compact(ctx: Ctx, op: Extract<DecayOp, { op: "compact" }>): DecayAction[] {
  const found: Found[] = [];
  for (const source of op.sources) {
    const here = readOrUndefined(abs(ctx.ws, source.from));
    const data = here ?? readOrUndefined(abs(ctx.ws, source.trash));
    if (data === undefined) {
      ctx.warnings.push(`${source.from} vanished before decay could compact it into ${op.to}`);
      continue;
    }
    const file = here ? source.from : source.trash;
    found.push({ source, data, sections: sectionsOf(source, data, file), inPlace: here !== undefined });
  }
  const first = found[0];
  if (!first) return [];
  // A new week's file gets the mode and owner of its first day's log.
  const like = lstatOrUndefined(abs(ctx.ws, first.inPlace ? first.source.from : first.source.trash));
  mergeInto(
    ctx,
    op,
    found.flatMap((f) => f.sections),
    like,
  );
  const compacted = (f: Found, data: Buffer): DecayAction => ({
    op: f.source.kind === "daily" ? "compact" : "merge",
    from: f.source.from,
    to: op.to,
    bytes: data.length,
    sha256: sha256(data),
  });
  const actions = found.map((f) => compacted(f, f.data));
  const late: DaySection[] = [];
  for (const f of found) {
    if (f.inPlace && finishMove(ctx, f.source.from, f.source.trash) === "missing") continue;
    const trashed = readFileSync(abs(ctx.ws, f.source.trash));
    const { from, trash: to } = f.source;
    actions.push({ op: "trash", from, to, bytes: trashed.length, sha256: sha256(trashed) });
    if (!trashed.equals(f.data)) {
      // Written to after it was read (the agent still had it open): the trashed bytes go in too.
      late.push(...sectionsOf(f.source, trashed, f.source.trash));
      actions.push(compacted(f, trashed));
    }
  }
  if (late.length > 0) mergeInto(ctx, op, late, like);
  return actions;
}

/** Rewrites the week's file with the sections it lacks; gives up after 3 concurrent changes to it. */
function mergeInto(ctx: Ctx, op: { week: string; to: string }, incoming: DaySection[], like?: Stats): void {
  const target = abs(ctx.ws, op.to);
  const tmp = `${target}${TEMP_SUFFIX}`;
  if (lstatOrUndefined(tmp)) ctx.fs.unlink(tmp); // the write of an interrupted run: redone from the sources
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = readOrUndefined(target);
    const existing = before ? parseWeekly(before, op.to, op.week) : [];
    const { sections, added } = mergeSections(existing, incoming);
    if (added.length === 0) return;
    ctx.fs.mkdirp(dirname(target));
    const unchanged = () => {
      const now = readOrUndefined(target);
      return now === undefined ? before === undefined : before !== undefined && now.equals(before);
    };
    const data = encodeWeekly(op.week, sections);
    if (
      ctx.fs.writeAtomic(target, data, {
        tmp,
        like: lstatOrUndefined(target) ?? like,
        beforeRename: unchanged,
      })
    ) {
      return;
    }
  }
  throw new ClawguardError(
    "input.invalid",
    `memory decay: ${op.to} kept changing while decay wrote it; stopped, the next run finishes the journal`,
    { retryable: true },
  );
}
