/**
 * A loop's wait that `wake()` cuts short (new work, or stop). The shippers sleep on one between
 * attempts (how long: ./delivery.ts).
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

  wake(): void {
    this.#wake?.();
  }
}
