import { describeError } from "./errors.ts";

/** Every long-lived part of a program. `start()` returns fast; `stop()` is idempotent and flushes. */
export interface Component {
  readonly id: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts components in order (sinks first, sources last) and stops them in reverse. A failed
 * start stops what already started; stop collects every failure instead of giving up at the first.
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

  async stop(): Promise<void> {
    const failures: string[] = [];
    const started = this.#started;
    this.#started = [];
    for (const component of [...started].reverse()) {
      try {
        await component.stop();
      } catch (err) {
        failures.push(`${component.id}: ${describeError(err)}`);
      }
    }
    if (failures.length > 0) throw new Error(`stop failed:\n  - ${failures.join("\n  - ")}`);
  }
}
