import { describe, expect, it } from "vitest";
import { Pause } from "./pause.ts";

describe("Pause", () => {
  it("ends a wait when woken", async () => {
    const pause = new Pause();
    const t0 = performance.now();
    const waiting = pause.for(60_000);
    pause.wake();
    await waiting;
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("keeps a wake that came while no wait was pending: the next wait ends at once, the one after does not", async () => {
    const pause = new Pause();
    pause.wake(); // new work came while the loop was busy
    const t0 = performance.now();
    await pause.for(60_000);
    expect(performance.now() - t0).toBeLessThan(1000);
    const t1 = performance.now();
    await pause.for(100);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(90);
  });
});
