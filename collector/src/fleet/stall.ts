import type { Logger } from "@clawguard/shared/log";

/**
 * This collector's own stalls: SIGSTOP, a frozen VM, an event loop blocked for seconds. Staleness
 * is judged on the collector's clock, and across its own pause every agent looks silent; the
 * heartbeats sent meanwhile were not received, not missing. A stall shows as a gap between two
 * looks (the fleet sweep looks every fleet.sweepMs, the controller every tick) far longer than
 * they come at; after one, verdicts of staleness are held until one staleness window of
 * heartbeats has been received (the fleet's longest heartbeat interval × staleFactor).
 */
export class StallWatch {
  readonly #afterMs: number;
  readonly #log: Logger;
  #last: number | undefined;
  #holdUntil = Number.NEGATIVE_INFINITY;

  /** `afterMs`: a gap between two looks longer than this is a stall. */
  constructor(afterMs: number, log: Logger) {
    this.#afterMs = afterMs;
    this.#log = log;
  }

  /** A look at `now`: whether staleness verdicts are held (a stall ended less than `windowMs` ago). */
  holds(now: number, windowMs: number): boolean {
    const gap = now - (this.#last ?? now);
    if (gap > this.#afterMs) {
      this.#holdUntil = now + windowMs;
      this.#log.warn("the collector itself stalled: no staleness verdict until heartbeats had a window", {
        stalledMs: gap,
        holdMs: windowMs,
      });
    }
    this.#last = Math.max(this.#last ?? now, now);
    return now < this.#holdUntil;
  }
}

/** A gap of this many look periods (at least STALL_MIN_MS) is a stall of the collector's own. */
export const STALL_PERIODS = 5;
export const STALL_MIN_MS = 5000;
