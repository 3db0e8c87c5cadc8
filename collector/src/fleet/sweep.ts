import { describeError } from "@clawguard/shared/errors";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";

export interface SweepOptions {
  /** What one round does: Fleet.sweep. */
  fleet: { sweep(): Promise<unknown> };
  everyMs: number;
  log: Logger;
}

/**
 * Finds agents whose heartbeat is overdue, every `everyMs`: one round at a time (the next is
 * scheduled when the last has finished), on an unref'd timer. A failed round is logged and the
 * next one runs as usual. Every replica sweeps; liveness hands each change to one of them.
 */
export class FleetSweep implements Component {
  readonly id = "fleet.sweep";
  readonly #o: SweepOptions;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #started = false;
  #stopped = false;
  #failing = false;

  constructor(options: SweepOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#schedule();
  }

  /** One round now (also what the timer runs). */
  async sweepOnce(): Promise<void> {
    try {
      await this.#o.fleet.sweep();
      if (this.#failing) this.#o.log.info("fleet sweep: recovered");
      this.#failing = false;
    } catch (err) {
      // Logged once per outage, not every round.
      if (!this.#failing) this.#o.log.warn("fleet sweep failed", { error: describeError(err) });
      this.#failing = true;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#round = this.sweepOnce().finally(() => {
        this.#round = undefined;
        if (!this.#stopped) this.#schedule();
      });
    }, this.#o.everyMs).unref();
  }
}
