import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@clawguard/shared/log";
import { describe, expect, it } from "vitest";
import { driftOf, type FleetAgent } from "./index.ts";
import { FleetSweep } from "./sweep.ts";

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

describe("fleet sweep component", () => {
  it("stops before start and twice, and does not start after stop", async () => {
    let rounds = 0;
    const sweep = new FleetSweep({
      fleet: { sweep: async () => rounds++ },
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
    const sweep = new FleetSweep({
      fleet: {
        sweep: async () => {
          rounds++;
          running++;
          overlap ||= running > 1;
          await sleep(15);
          running--;
          finished++;
          if (rounds >= 2 && rounds <= 4) throw new Error("PostgreSQL is unavailable");
        },
      },
      everyMs: 5,
      log,
    });
    await sweep.start();
    await sweep.start();
    await sleep(200);
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

describe("driftOf", () => {
  const agent = (name: string, fp: string, keys?: Record<string, string>, stale = false) =>
    ({
      agent: name,
      role: "sub-agent",
      configFingerprint: fp,
      configKeys: keys,
      stale,
    }) as unknown as FleetAgent;

  it("names the roles whose live agents differ, and the keys that differ", () => {
    const drift = driftOf([
      agent("sub1", "a".repeat(64), {
        "openclaw.models.providers.openai": "1111",
        "openclaw.gateway.mode": "2222",
      }),
      agent("sub2", "b".repeat(64), {
        "openclaw.models.providers.openai": "3333",
        "openclaw.gateway.mode": "2222",
      }),
      agent("sub3", "a".repeat(64), {
        "openclaw.models.providers.openai": "1111",
        "openclaw.gateway.mode": "2222",
      }),
      agent("sub4", "c".repeat(64), { "clawguard.exec.maxBytes": "9999" }, true), // stale: not counted
    ]);
    expect(drift).toEqual([
      {
        role: "sub-agent",
        fingerprints: { ["a".repeat(64)]: ["sub1", "sub3"], ["b".repeat(64)]: ["sub2"] },
        keys: ["openclaw.models.providers.openai"],
      },
    ]);
  });
});
