import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Component } from "./lifecycle.ts";
import type { Logger } from "./log.ts";

/**
 * Gives the memory a burst of work left behind back to the system once the process is quiet.
 *
 * V8 keeps the heap it grew to: after the sidecar catches up with 10 000 memory files (reads,
 * events, spool writes, uploads), ~200 MB of pages hold garbage and stay resident for as long as
 * nothing allocates, since no collection runs then (its memory reducer gives up while the burst
 * lasts). A "last resort" collection (what V8 does on a low-memory notification: full collections
 * that also release its pooled pages) returns them; it stops the process for tens of ms, so it runs
 * only when the heap has been quiet for a whole check and the resident size grew by `slackBytes`
 * since the last one. At most one per such growth: a collection that frees little resets the mark.
 */
export interface HeapSample {
  /** Resident set size. */
  rss: number;
  /** V8's used heap: unchanged between checks when nothing allocated (nor was collected). */
  heapUsed: number;
}

export interface HeapReleaseOptions {
  everyMs?: number;
  slackBytes?: number;
  /** How much the used heap may move between two checks for the process to count as quiet. */
  quietBytes?: number;
  log: Logger;
  /** For tests: the sample and the collection. */
  sample?: () => HeapSample;
  collect?: () => void;
}

const DEFAULTS = { everyMs: 10_000, slackBytes: 32 * 2 ** 20, quietBytes: 2 * 2 ** 20 };

/** Whether to collect now: quiet since the last check, and grown past the mark. Pure. */
export function shouldRelease(
  last: HeapSample,
  now: HeapSample,
  mark: number,
  limits: { slackBytes: number; quietBytes: number },
): boolean {
  return Math.abs(now.heapUsed - last.heapUsed) < limits.quietBytes && now.rss > mark + limits.slackBytes;
}

/** V8's collection with memory release, or undefined where this Node cannot give it. */
function lastResortCollection(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as (options?: object) => void;
    return () => gc({ type: "major", execution: "sync", flavor: "last-resort" });
  } catch {
    return undefined;
  }
}

const sampleNow = (): HeapSample => ({
  rss: process.memoryUsage.rss(),
  heapUsed: process.memoryUsage().heapUsed,
});

export class HeapRelease implements Component {
  readonly id = "heap-release";
  readonly #o: HeapReleaseOptions & typeof DEFAULTS;
  #timer: NodeJS.Timeout | undefined;
  #last: HeapSample | undefined;
  #mark = 0;
  #collect: (() => void) | undefined;
  /** Collections run so far (for tests and the log). */
  released = 0;

  constructor(options: HeapReleaseOptions) {
    this.#o = { ...DEFAULTS, ...options };
  }

  async start(): Promise<void> {
    if (this.#timer) return;
    this.#collect = this.#o.collect ?? lastResortCollection();
    if (!this.#collect) {
      this.#o.log.debug("heap release off: this Node gives no collection to call");
      return;
    }
    const sample = this.#o.sample ?? sampleNow;
    this.#last = sample();
    this.#mark = this.#last.rss;
    this.#timer = setInterval(() => this.check(), this.#o.everyMs);
    this.#timer.unref();
  }

  /** One check (what the timer runs). */
  check(): void {
    const sample = this.#o.sample ?? sampleNow;
    const now = sample();
    const last = this.#last ?? now;
    this.#last = now;
    if (!this.#collect || !shouldRelease(last, now, this.#mark, this.#o)) return;
    const started = performance.now();
    this.#collect();
    this.released++;
    const after = sample();
    this.#last = after;
    this.#mark = after.rss;
    this.#o.log.debug("heap released", {
      rss_before: now.rss,
      rss_after: after.rss,
      ms: Math.round(performance.now() - started),
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
