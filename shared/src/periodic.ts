import { describeError } from "./errors.ts";
import type { Component } from "./lifecycle.ts";
import type { Logger } from "./log.ts";

export interface PeriodicOptions {
  /** The component's id, e.g. "fleet.sweep". */
  id: string;
  /** What a round is, for the log: "fleet sweep". */
  name: string;
  /** One round. */
  run(): Promise<unknown>;
  everyMs: number;
  log: Logger;
}

/**
 * Runs a round every `everyMs`: one at a time (the next is scheduled when the last has finished),
 * on an unref'd timer. A failed round is logged once per outage, and the next one runs as usual.
 * stop() waits for the round in flight.
 */
export class Periodic implements Component {
  readonly id: string;
  readonly #o: PeriodicOptions;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #started = false;
  #stopped = false;
  #failing = false;

  constructor(options: PeriodicOptions) {
    this.id = options.id;
    this.#o = options;
  }

  async start(): Promise<void> {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#schedule();
  }

  /** One round now (also what the timer runs). */
  async runOnce(): Promise<void> {
    try {
      await this.#o.run();
      if (this.#failing) this.#o.log.info(`${this.#o.name}: recovered`);
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#o.log.warn(`${this.#o.name} failed`, { error: describeError(err) });
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
      this.#round = this.runOnce().finally(() => {
        this.#round = undefined;
        if (!this.#stopped) this.#schedule();
      });
    }, this.#o.everyMs).unref();
  }
}
