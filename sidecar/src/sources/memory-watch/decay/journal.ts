import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { insidePath } from "../../../workspace-path.ts";
import { type DurableFs, lstatOrUndefined } from "./durable-fs.ts";
import type { DecayPlan } from "./types.ts";

/**
 * The intent log of a decay run, in `memory/.decay/`:
 *
 *   plan-<run>.json   the run's plan (every operation with its paths), written once before step 0
 *   journal.json      {"version":1,"run":"<run>","plan":"plan-<run>.json","next":N,"total":T}:
 *                     steps < N are done, step N may be half done; rewritten before every step
 *
 * Both are written atomically (temp file, fsync, rename, fsync of the folder). A run that finds
 * journal.json finishes that run first: it redoes step N (every step is idempotent: it looks
 * at where its files are and does only what is left) and goes on from there. When the last step
 * is done (next = total), the plan is removed, then journal.json: that removal is the run's commit.
 */
export interface Journal {
  version: 1;
  run: string;
  plan: string;
  next: number;
  total: number;
}

/** `memory/.decay`, refused (UnsafePathError) when it or memory/ is a symbolic link. */
export const decayDir = (workspace: string) => insidePath(workspace, "memory/.decay");
const journalPath = (workspace: string) => join(decayDir(workspace), "journal.json");

function corrupt(file: string, what: string, cause?: unknown): ClawguardError {
  return new ClawguardError(
    "input.invalid",
    `memory decay: the journal ${file} of an interrupted run is unreadable (${what}); nothing was changed. Inspect it, then remove memory/.decay/ to start over`,
    { cause },
  );
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw corrupt(file, (err as NodeJS.ErrnoException).code ?? "not JSON", err);
  }
}

export interface PendingRun {
  run: string;
  /** The first step not known to be done. */
  next: number;
  planFile: string;
  /** Undefined once the run is done and only its commit (removing journal.json) is left. */
  plan: DecayPlan | undefined;
}

/** The interrupted run, if there is one: its plan and the step to go on from. */
export function readJournal(workspace: string): PendingRun | undefined {
  const file = journalPath(workspace);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw corrupt(file, (err as NodeJS.ErrnoException).code ?? "not JSON", err);
  }
  const j = raw as Partial<Journal>;
  if (
    j.version !== 1 ||
    typeof j.run !== "string" ||
    typeof j.plan !== "string" ||
    j.plan !== `plan-${j.run}.json` ||
    !/^plan-[0-9A-Z]+\.json$/.test(j.plan) ||
    !Number.isSafeInteger(j.next) ||
    !Number.isSafeInteger(j.total) ||
    (j.next as number) < 0 ||
    (j.next as number) > (j.total as number)
  ) {
    throw corrupt(file, "expected version 1, run, plan, and 0 <= next <= total");
  }
  const next = j.next as number;
  const planFile = join(decayDir(workspace), j.plan);
  if (next === j.total && !lstatOrUndefined(planFile))
    return { run: j.run, next, planFile: j.plan, plan: undefined };
  const plan = readJson(planFile) as DecayPlan;
  if (!plan || !Array.isArray(plan.ops) || plan.ops.length !== j.total) {
    throw corrupt(file, `its plan ${j.plan} does not have ${j.total} steps`);
  }
  return { run: j.run, next, planFile: j.plan, plan };
}

export function startJournal(fs: DurableFs, workspace: string, run: string, plan: DecayPlan): void {
  const dir = decayDir(workspace);
  fs.mkdirp(dir);
  const { resume: _, ...stored } = plan;
  fs.writeAtomic(join(dir, `plan-${run}.json`), JSON.stringify(stored));
  advanceJournal(fs, workspace, run, 0, plan.ops.length);
}

export function advanceJournal(
  fs: DurableFs,
  workspace: string,
  run: string,
  next: number,
  total: number,
): void {
  const journal: Journal = { version: 1, run, plan: `plan-${run}.json`, next, total };
  fs.writeAtomic(journalPath(workspace), JSON.stringify(journal));
}

/** The commit of a run whose journal says every step is done: its plan goes, then journal.json. */
export function finishJournal(fs: DurableFs, workspace: string, run: string): void {
  const plan = join(decayDir(workspace), `plan-${run}.json`);
  if (lstatOrUndefined(plan)) fs.unlink(plan);
  fs.unlink(journalPath(workspace));
}

/** Temp files, and plans of runs killed before their journal was written or after it was removed. */
export function removeJournalLeftovers(fs: DurableFs, workspace: string): void {
  const dir = decayDir(workspace);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const keep = readJournal(workspace)?.planFile;
  for (const name of names) {
    const isPlan = /^plan-[0-9A-Z]+\.json$/.test(name);
    const isTemp = /^(journal|plan-[0-9A-Z]+)\.json\.tmp$/.test(name);
    if (isTemp || (isPlan && name !== keep)) fs.unlink(join(dir, name));
  }
}
