/**
 * Memory decay: keeps an OpenClaw workspace's `memory/` from growing without bound, and never
 * loses a byte of it.
 *
 * On disk, under `<workspace>/memory/`:
 *   YYYY-MM-DD.md                 the agent's daily logs; once older than dailyToWeeklyDays (7)
 *                                 they are compacted into their ISO week's file, then trashed
 *   weekly/YYYY-Www.md            a week's days, each byte for byte under `## YYYY-MM-DD` (format:
 *                                 weekly-file.ts); once the week's Sunday is older than
 *                                 weeklyToArchiveDays (30) the file moves to
 *   archive/YYYY-MM/YYYY-Www.md   YYYY-MM: the month of the week's Thursday (so 2026-W53 is in
 *                                 2026-12, 2025-W01 in 2025-01). A day that comes late for an
 *                                 archived week goes straight into its archived file.
 *   tmp/YYYY-MM-DD*               temporary records (the marker is the folder, the date the name's
 *                                 prefix); older than temporaryRetentionDays (365): to the trash.
 *                                 Files there without a date prefix never age (listed as skipped).
 *   .trash/YYYY-MM-DD/<path>      what decay removed on that day, at its path under memory/
 *                                 (`name~2.md` when the name is taken); the folder is deleted once
 *                                 its date is older than trashRetentionDays (30)
 *   .decay/                       LOCK (one decayer at a time), journal.json and plan-<run>.json
 *                                 (journal.ts)
 * Anything else (MEMORY.md, other notes) is not decay's and is never touched.
 *
 * Ages are whole calendar days between the date in the file name and today's date in
 * `timeZone`: "older than N days" means today - date > N, so a log of 11-02 is compacted on 11-10
 * (8 days), not on 11-09 (7). No clock times are involved, so DST and month ends cannot shift it.
 *
 * The invariant. No loss: at every instant of a run, so after a kill -9 at any point, every byte
 * of every day is in its daily log, in a committed week's file, or in the trash (until purged).
 * No duplicates: when a run is done, every day is in exactly one live place (its daily log or one
 * section of its week's file); a day is in both only inside a journaled step, between the commit
 * of its week's file and the move of its log to the trash, and redoing that step resolves it.
 * It holds because (1) a week's file is only ever replaced whole (temp file, fsync, rename, fsync
 * of the folder), (2) a source leaves its place only after the week's file holding it is durable,
 * and only by a move that cannot replace a file (hard link, then unlink), and (3) every step is
 * idempotent against the state it finds: a week's file that already holds a day (same date, same
 * sha256) does not get it again, a half-done move (both names one file) is finished, a leftover
 * temp file is dropped. The journal says which run was going on and from which step to redo; the
 * next run finishes it (rolls forward) before planning anew.
 */
import { isClawguardError } from "@clawguard/shared/errors";
import { draftEvent, type EventDraft, type EventSource } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { type ApplyOptions, apply, type DecayEvent, type DecayResult } from "./apply.ts";
import type { MemoryDecayConfig } from "./config.ts";
import { DECAY_LOCKED } from "./lock.ts";
import { type DecayPlan, plan } from "./plan.ts";

export { type ApplyOptions, apply, type DecayEvent, type DecayResult } from "./apply.ts";
export {
  type MemoryDecayConfig,
  type MemoryDecayConfigInput,
  memoryDecayConfig,
  parseDecayConfig,
} from "./config.ts";

import { isoTime } from "@clawguard/shared/time";

export { formatAction, formatPlan, planActions } from "./format.ts";
export { DECAY_LOCKED } from "./lock.ts";
export { plan } from "./plan.ts";
export type { DecayAction, DecayOp, DecayPlan } from "./types.ts";

export interface RunDecayOptions extends ApplyOptions {
  workspace: string;
  now: Date;
  /** `memory.decay` (validated here: a bad one is a `config.invalid` error and changes nothing). */
  config: unknown;
  dryRun?: boolean;
}

/**
 * One decay run: plan, then apply that plan (a dry run stops after planning: what it returns is
 * exactly what a real run would do). When the plan finishes an interrupted run, a fresh plan
 * follows it, so a real run always leaves the workspace fully decayed for `now`.
 */
export async function runDecay(o: RunDecayOptions): Promise<{ plans: DecayPlan[]; results: DecayResult[] }> {
  const plans = [plan(o.workspace, o.now, o.config)];
  const results: DecayResult[] = [];
  if (o.dryRun) return { plans, results };
  for (;;) {
    const p = plans[plans.length - 1] as DecayPlan;
    results.push(await apply(p, o));
    if (!p.resume) return { plans, results };
    plans.push(plan(o.workspace, o.now, o.config));
  }
}

export function decayDraft(source: EventSource, event: DecayEvent, time?: Date): EventDraft {
  return draftEvent({ source, type: event.type, severity: event.severity, attrs: { ...event.attrs }, time });
}

export interface MemoryDecayOptions {
  workspace: string;
  config: MemoryDecayConfig;
  source: EventSource;
  /** Durable delivery of the events (the sidecar's bus); awaited before decay goes on. */
  publish(drafts: EventDraft[]): Promise<unknown>;
  log: Logger;
  clock?: () => Date;
  /** The first run comes this long after start, then one every config.intervalMs. */
  firstRunDelayMs?: number;
}

/**
 * The sidecar's decay schedule. A run that finds another decayer holding the workspace's lock
 * (a sub-agent's sidecar on the same volume) skips that turn; other failures are logged and the
 * next turn tries again (the journal finishes what was started).
 */
export class MemoryDecay implements Component {
  readonly id = "source.memory-decay";
  readonly #o: MemoryDecayOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** The last run's outcome, for health reporting. */
  last: { at: string; ok: boolean; actions: number; error?: string } | undefined;

  constructor(options: MemoryDecayOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    if (!this.#o.config.enabled || this.#stopped) return;
    this.#schedule(this.#o.firstRunDelayMs ?? 5000);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One run now (also what the timer does). */
  runOnce(): Promise<void> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.runOnce().finally(() => this.#schedule(this.#o.config.intervalMs));
    }, delayMs);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    const { workspace, config, source, log } = this.#o;
    const now = this.#o.clock?.() ?? new Date();
    try {
      const { results } = await runDecay({
        workspace,
        now,
        config,
        onEvent: async (e) => {
          await this.#o.publish([decayDraft(source, e)]);
        },
      });
      const actions = results.reduce((n, r) => n + r.actions.length, 0);
      for (const r of results) for (const w of r.warnings) log.warn("memory decay", { warning: w });
      if (actions > 0) log.info("memory decayed", { actions, run: results.at(-1)?.run });
      this.last = { at: isoTime(now), ok: true, actions };
    } catch (err) {
      const message = (err as Error).message;
      if (isClawguardError(err, DECAY_LOCKED)) {
        log.info("memory decay skipped: another decayer holds the lock", { error: message });
        return;
      }
      log.error("memory decay failed", { error: message });
      this.last = { at: isoTime(now), ok: false, actions: 0, error: message };
    }
  }
}
