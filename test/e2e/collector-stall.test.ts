import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { Processes, startCollector } from "../support/processes.ts";

/**
 * The collector itself SIGSTOPped for 10 s with two gateways heartbeating every second (stale after
 * 3 s): their heartbeats could not arrive meanwhile, which is the collector's pause, not theirs.
 * Before, the first sweep after SIGCONT marked both stale (an incident each, and a P0
 * `gateway_down` per agent from the alerts); now no verdict is given until a staleness window of
 * heartbeats has been received, and only the gateway that stays silent goes stale.
 */

const procs = new Processes();
const dir = tempDir("clawguard-stall-");
afterAll(async () => {
  await procs.cleanup();
  dir.cleanup();
});

describe("the collector's own stall", () => {
  it("judges no agent stale across its own SIGSTOP; the silent one only a window after", {
    timeout: 90_000,
  }, async () => {
    const c = await startCollector(procs, dir.path, ["gw-live", "gw-gone"]);
    const read = { authorization: `Bearer ${c.read}` };
    const beat = (agent: string) =>
      fetch(`${c.url}/v1/heartbeats`, {
        method: "POST",
        headers: { authorization: `Bearer ${c.tokens[agent]}`, "content-type": "application/json" },
        body: JSON.stringify({
          agent,
          role: "gateway",
          host: "h",
          state: "healthy",
          reasons: [],
          probes: [],
          versions: {},
          configFingerprint: "f".repeat(64),
          intervalMs: 1000,
          time: new Date().toISOString(),
        }),
        signal: AbortSignal.timeout(2000),
      }).then(
        (r) => r.status,
        () => 0,
      );
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const beats = async (agents: string[], seconds: number) => {
      for (let i = 0; i < seconds * 2; i++) {
        for (const agent of agents) expect([200, 202, 204]).toContain(await beat(agent));
        await sleep(500);
      }
    };
    await beats(["gw-live", "gw-gone"], 4);
    process.kill(c.managed.pid, "SIGSTOP");
    await sleep(10_000);
    process.kill(c.managed.pid, "SIGCONT");
    // The sidecars' heartbeats in flight timed out; their next ones come a second later.
    await sleep(1000);
    await beats(["gw-live"], 6);
    const incidents = async (agent: string) =>
      (
        (await (await fetch(`${c.url}/v1/incidents?agent=${agent}&limit=10`, { headers: read })).json()) as {
          incidents: { state: string }[];
        }
      ).incidents;
    expect(await incidents("gw-live")).toEqual([]);
    // gw-gone really stopped with the pause: stale once the window after it has passed.
    expect((await incidents("gw-gone")).map((i) => i.state)).toEqual(["stale"]);
  });
});
