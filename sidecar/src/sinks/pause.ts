/**
 * A loop's wait that `wake()` cuts short (new work, or stop). The shippers sleep on one between
 * attempts; jitter keeps many sidecars from retrying in step.
 */
export class Pause {
  #wake: (() => void) | undefined;

  /** Waits `ms`, or less when woken. */
  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.#wake === done) self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }

  /** A backoff wait: `ms` with jitter (half to all of it). */
  jittered(ms: number): Promise<void> {
    return this.for(Math.round(ms * (0.5 + Math.random() / 2)));
  }

  wake(): void {
    this.#wake?.();
  }
}
