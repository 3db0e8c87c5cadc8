/** A shipper's wait with nothing to ship: what it waits for wakes it, so this only bounds a miss. */
export const IDLE_POLL_MS = 30_000;

/**
 * A loop's wait that `wake()` cuts short (new work, or stop). The shippers sleep on one between
 * attempts (how long: ./delivery.ts). A wake while no wait is pending (the loop was busy: new work
 * came after it looked) ends the next wait at once, so the loops can sleep long at rest.
 */
export class Pause {
  #wake: (() => void) | undefined;
  #woken = false;

  /** Waits `ms`, or less when woken (no wait at all when woken since the last one). */
  for(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
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

  /** Drops a wake that came while no wait was pending: the next wait lasts its time. */
  forget(): void {
    this.#woken = false;
  }

  wake(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }
}
