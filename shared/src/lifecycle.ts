import { describeError } from "./errors.ts";

/** Every long-lived part of a program. `start()` returns fast; `stop()` is idempotent and flushes. */
export interface Component {
  readonly id: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How long a whole stop may take by default: a supervisor's grace period is often not much more. */
export const STOP_DEADLINE_MS = 1_500;

/** What each stop still gets once the deadline has passed. */
const LATE_TURN_MS = 50;

/**
 * Runs each of `stops` in turn, none past `deadlineMs` from now (one that is still busy is left
 * to finish in the background and reported as late; the next one starts at once, and after the
 * deadline each gets 50 ms). Resolves with
 * every failure and every late stop, in order.
 */
export async function stopInTurn(
  stops: readonly { id: string; stop: () => Promise<void> }[],
  deadlineMs: number,
): Promise<string[]> {
  const deadline = performance.now() + deadlineMs;
  const failures: string[] = [];
  for (const { id, stop } of stops) {
    const started = performance.now();
    // Past the deadline, each still gets a short turn: the sinks at the end close files and locks.
    const left = Math.max(LATE_TURN_MS, deadline - started);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), left);
    });
    const stopping = Promise.resolve()
      .then(stop)
      .then(
        () => "stopped" as const,
        (err: unknown) => `${id}: ${describeError(err)}`,
      );
    const outcome = await Promise.race([stopping, late]);
    clearTimeout(timer);
    if (outcome === "late") failures.push(`${id}: not stopped within the deadline of ${deadlineMs} ms`);
    else if (outcome !== "stopped") failures.push(outcome);
  }
  return failures;
}

/**
 * Starts components in order (sinks first, sources last) and stops them in reverse, within a
 * deadline. A failed start stops what already started; stop collects every failure (and every
 * component that did not stop in time) instead of giving up at the first.
 */
export class Runner {
  readonly #components: readonly Component[];
  #started: Component[] = [];

  constructor(components: readonly Component[]) {
    this.#components = components;
  }

  async start(): Promise<void> {
    for (const component of this.#components) {
      try {
        await component.start();
      } catch (err) {
        await this.stop().catch(() => {});
        throw new Error(`${component.id}: failed to start: ${describeError(err)}`, { cause: err });
      }
      this.#started.push(component);
    }
  }

  async stop(deadlineMs = STOP_DEADLINE_MS): Promise<void> {
    const started = this.#started;
    this.#started = [];
    const stops = [...started].reverse().map((c) => ({ id: c.id, stop: () => c.stop() }));
    const failures = await stopInTurn(stops, deadlineMs);
    if (failures.length > 0) throw new Error(`stop failed:\n  - ${failures.join("\n  - ")}`);
  }
}
