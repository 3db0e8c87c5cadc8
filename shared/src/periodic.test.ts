import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { Logger } from "./log.ts";
import { Periodic } from "./periodic.ts";

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = {
    lines,
    debug: () => {},
    info: (msg: string) => lines.push(`info ${msg}`),
    warn: (msg: string) => lines.push(`warn ${msg}`),
    error: (msg: string) => lines.push(`error ${msg}`),
    child: () => log,
  };
  return log;
}

describe("Periodic", () => {
  it("stops before start and twice, and does not start after stop", async () => {
    let rounds = 0;
    const sweep = new Periodic({
      id: "fleet.sweep",
      name: "fleet sweep",
      run: async () => rounds++,
      everyMs: 5,
      log: recordingLogger(),
    });
    await sweep.stop();
    await sweep.stop();
    await sweep.start();
    await sleep(30);
    expect(rounds).toBe(0);
  });

  it("sweeps every everyMs, one round at a time, survives failures, and waits for the last round", async () => {
    const log = recordingLogger();
    let rounds = 0;
    let running = 0;
    let overlap = false;
    let finished = 0;
    const sweep = new Periodic({
      id: "fleet.sweep",
      name: "fleet sweep",
      run: async () => {
        rounds++;
        running++;
        overlap ||= running > 1;
        await sleep(15);
        running--;
        finished++;
        if (rounds >= 2 && rounds <= 4) throw new Error("PostgreSQL is unavailable");
      },
      everyMs: 5,
      log,
    });
    await sweep.start();
    await sweep.start();
    // Six rounds, however long a loaded machine takes for them (a fixed 200 ms saw five).
    for (const deadline = Date.now() + 10_000; rounds < 6 && Date.now() < deadline; ) await sleep(5);
    await sweep.stop();
    expect(rounds).toBeGreaterThanOrEqual(6);
    expect(overlap).toBe(false);
    // stop() waited for the round in flight.
    expect(finished).toBe(rounds);
    await sleep(40);
    expect(finished).toBe(rounds);
    expect(log.lines).toEqual(["warn fleet sweep failed", "info fleet sweep: recovered"]);
  });
});
