import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";

/** The alerting's work running beside the evaluation (deliveries, records): drain() waits for it. */
export class InFlight {
  readonly #tasks = new Set<Promise<void>>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Runs `task` beside the evaluation; its failure is logged. */
  track(task: Promise<void>, alert: string): Promise<void> {
    const tracked = task.catch((err) =>
      this.#log.error("alert not recorded", { alert, error: describeError(err) }),
    );
    this.add(tracked);
    return tracked;
  }

  /** Counts `task` as under way until it settles (it handles its own failure). */
  add(task: Promise<void>): void {
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  /** Waits for the work under way, and for what it started meanwhile. */
  async drain(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}
