import { describe, expect, it } from "vitest";
import {
  type Decision,
  decide,
  decideRestart,
  type FleetStale,
  type GroupMemory,
  type Observation,
  type Policy,
} from "./decide.ts";

const policy: Policy = {
  unhealthyForMs: 3000,
  restartBudget: 2,
  restartWindowMs: 600_000,
  restartBackoffMs: 5000,
  minFailoverIntervalMs: 120_000,
  holdStaleShare: 0.5,
  holdMinStale: 2,
};
/** A share of a fleet of ten agents. */
const ofTen = (share: number): FleetStale => ({ count: Math.round(share * 10), share });
const NOW = 1_000_000;

function run(
  primary: Observation | undefined,
  memory: Partial<GroupMemory> = {},
  standby: Observation = { state: "healthy", since: 0 },
  stale: FleetStale = ofTen(0),
  answers: boolean | undefined = undefined,
): Decision {
  const group: GroupMemory = { primary: "gw", standby: "gw-standby", restarts: [], ...memory };
  return decide(group, (agent) => (agent === "gw" ? primary : standby), stale, NOW, policy, answers);
}

describe("decide", () => {
  it("does nothing while the primary is healthy, degraded, unknown or not heard from", () => {
    for (const state of ["healthy", "degraded", "unknown"] as const) {
      expect(run({ state, since: 0 }).action).toBe("none");
    }
    expect(run(undefined)).toMatchObject({ action: "none", why: "gw is not heard from yet" });
  });

  it("waits out the hysteresis before acting", () => {
    expect(run({ state: "unhealthy", since: NOW - 2999 }).action).toBe("none");
    expect(run({ state: "unhealthy", since: NOW - 3000 })).toMatchObject({
      action: "restart",
      agent: "gw",
      attempt: 1,
    });
  });

  it("restarts in place with backoff, within the budget, then fails over", () => {
    const down = { state: "unhealthy" as const, since: NOW - 60_000 };
    expect(run(down, { restarts: [NOW - 4000] })).toMatchObject({ action: "none" }); // backoff 5 s after the 1st
    expect(run(down, { restarts: [NOW - 5000] })).toMatchObject({ action: "restart", attempt: 2 });
    expect(run(down, { restarts: [NOW - 20_000, NOW - 9000] })).toMatchObject({
      action: "failover",
      from: "gw",
      to: "gw-standby",
    });
    // Restarts older than the window do not count against the budget.
    expect(run(down, { restarts: [NOW - 700_000, NOW - 650_000] })).toMatchObject({
      action: "restart",
      attempt: 1,
    });
  });

  it("fails over at once when the primary is stale and its address was not asked (its host may be gone)", () => {
    expect(run({ state: "stale", since: NOW - 3000 })).toMatchObject({
      action: "failover",
      why: expect.stringMatching(/stopped sending heartbeats/),
    });
  });

  it("restarts a stale primary that does not answer either in place (a killed container), then fails over", () => {
    const silent = { state: "stale" as const, since: NOW - 60_000 };
    const ask = (memory: Partial<GroupMemory>) => run(silent, memory, undefined, ofTen(0), false);
    expect(ask({})).toMatchObject({
      action: "restart",
      agent: "gw",
      attempt: 1,
      why: expect.stringMatching(/does not answer at its address: restart in place \(1 of 2\)/),
    });
    expect(ask({ restarts: [NOW - 4000] })).toMatchObject({ action: "none" }); // backoff
    expect(ask({ restarts: [NOW - 5000] })).toMatchObject({ action: "restart", attempt: 2 });
    expect(ask({ restarts: [NOW - 20_000, NOW - 9000] })).toMatchObject({
      action: "failover",
      why: expect.stringMatching(/still silent and not answering after 2 restarts/),
    });
    // Its sidecar's restarts are another budget: they do not spend the gateway's.
    expect(ask({ sidecarRestarts: [NOW - 20_000, NOW - 9000] })).toMatchObject({ action: "restart" });
  });

  it("never fences a stale primary that still answers: restarts its sidecar within a budget, then holds", () => {
    const silent = { state: "stale" as const, since: NOW - 60_000 };
    const ask = (memory: Partial<GroupMemory>) => run(silent, memory, undefined, ofTen(0), true);
    expect(ask({})).toMatchObject({
      action: "restart-sidecar",
      agent: "gw",
      attempt: 1,
      why: expect.stringMatching(/answers \/readyz: not fenced.*restart its sidecar \(1 of 2\)/),
    });
    expect(ask({ sidecarRestarts: [NOW - 4000] })).toMatchObject({ action: "none" });
    expect(ask({ sidecarRestarts: [NOW - 5000] })).toMatchObject({ action: "restart-sidecar", attempt: 2 });
    const spent = { sidecarRestarts: [NOW - 20_000, NOW - 9000] };
    expect(ask(spent)).toMatchObject({
      action: "hold",
      reason: "sidecar-silent",
      why: expect.stringMatching(/restarted 2 time\(s\).*still silent/),
    });
    // Long after the budget, with the gateway's own budget spent too: still no failover.
    expect(ask({ ...spent, restarts: [NOW - 20_000, NOW - 9000] }).action).toBe("hold");
    // The hysteresis and the partition hold come first, as for any down primary.
    expect(run({ state: "stale", since: NOW - 1000 }, {}, undefined, ofTen(0), true).action).toBe("none");
    expect(run(silent, {}, undefined, ofTen(0.6), true)).toMatchObject({ reason: "fleet-stale" });
  });

  it("holds: most of the fleet stale at once, the standby unhealthy too, or a failover too recent", () => {
    const down = { state: "stale" as const, since: NOW - 60_000 };
    expect(run(down, {}, undefined, ofTen(0.6))).toMatchObject({
      action: "hold",
      reason: "fleet-stale",
      why: expect.stringMatching(/60 % of the fleet/),
    });
    // Only a primary that is down is held: a healthy one has nothing to hold.
    expect(run({ state: "healthy", since: 0 }, {}, undefined, ofTen(0.6))).toMatchObject({ action: "none" });
    // One agent stale is no partition: a one-agent fleet (the standby runs no sidecar) fails over.
    expect(run(down, {}, undefined, { count: 1, share: 1 })).toMatchObject({ action: "failover" });
    expect(run(down, {}, undefined, { count: 2, share: 1 })).toMatchObject({ reason: "fleet-stale" });
    expect(run(down, {}, { state: "unhealthy", since: 0 })).toMatchObject({
      action: "hold",
      reason: "standby-unhealthy",
      why: expect.stringMatching(/standby/),
    });
    expect(run(down, { lastFailoverAt: NOW - 60_000 })).toMatchObject({
      action: "hold",
      reason: "failover-too-soon",
      why: expect.stringMatching(/minimum 120000 ms/),
    });
    expect(run(down, { lastFailoverAt: NOW - 120_000 }).action).toBe("failover");
  });
});

describe("decideRestart (an agent with no standby)", () => {
  const restart = (seen: Observation | undefined, restarts: number[] = [], share = 0, p = policy) =>
    decideRestart("sub1", { restarts }, seen, ofTen(share), NOW, p);
  const down = { state: "unhealthy" as const, since: NOW - 60_000 };

  it("does nothing while the agent is healthy, degraded, unknown or not heard from", () => {
    for (const state of ["healthy", "degraded", "unknown"] as const) {
      expect(restart({ state, since: 0 })).toEqual({ action: "none", why: `sub1 is ${state}` });
    }
    expect(restart(undefined)).toEqual({ action: "none", why: "sub1 is not heard from yet" });
  });

  it("holds while most of the fleet is stale, even past the hysteresis", () => {
    expect(restart(down, [], 0.6)).toMatchObject({ action: "hold", reason: "fleet-stale" });
    expect(restart({ state: "stale", since: NOW - 60_000 }, [], 0.6)).toMatchObject({ action: "hold" });
    expect(restart(down, [], 0.5)).toMatchObject({ action: "restart" });
    expect(restart({ state: "healthy", since: 0 }, [], 0.6).action).toBe("none");
  });

  it("waits out the hysteresis, unhealthy or stale", () => {
    for (const state of ["unhealthy", "stale"] as const) {
      expect(restart({ state, since: NOW - 2999 })).toMatchObject({
        action: "none",
        why: expect.stringMatching(/waiting 3000 ms/),
      });
      expect(restart({ state, since: NOW - 3000 })).toMatchObject({
        action: "restart",
        agent: "sub1",
        attempt: 1,
      });
    }
  });

  it("restarts a stale agent in place too: there is no standby, and a dead container may come back", () => {
    expect(restart({ state: "stale", since: NOW - 10_000 })).toMatchObject({
      action: "restart",
      attempt: 1,
      why: expect.stringMatching(/stopped sending heartbeats 10000 ms ago: restart in place \(1 of 2\)/),
    });
  });

  it("backs off between restarts, doubling, and forgets restarts older than the window", () => {
    const wide = { ...policy, restartBudget: 3 };
    expect(restart(down, [NOW - 4999], 0, wide)).toMatchObject({
      action: "none",
      why: expect.stringMatching(/after 5000 ms/),
    });
    expect(restart(down, [NOW - 5000], 0, wide)).toMatchObject({ action: "restart", attempt: 2 });
    expect(restart(down, [NOW - 20_000, NOW - 9999], 0, wide)).toMatchObject({
      action: "none",
      why: expect.stringMatching(/after 10000 ms/),
    });
    expect(restart(down, [NOW - 20_000, NOW - 10_000], 0, wide)).toMatchObject({
      action: "restart",
      attempt: 3,
    });
    expect(restart(down, [NOW - 700_000, NOW - 650_000])).toMatchObject({ action: "restart", attempt: 1 });
  });

  it("holds with what to do when the budget is spent, until the oldest restart leaves the window", () => {
    expect(restart(down, [NOW - 100_000, NOW - 50_000])).toMatchObject({
      action: "hold",
      reason: "budget-spent",
      why: expect.stringMatching(
        /sub1 still unhealthy after 2 restart\(s\).*due in 500000 ms.*read its logs.*restart it by hand/,
      ),
    });
    expect(restart({ state: "stale", since: 0 }, [NOW - 100_000, NOW - 50_000])).toMatchObject({
      action: "hold",
      why: expect.stringMatching(/still stale/),
    });
    expect(restart(down, [NOW - 600_000, NOW - 50_000])).toMatchObject({ action: "restart", attempt: 2 });
    expect(restart(down, [], 0, { ...policy, restartBudget: 0 })).toMatchObject({
      action: "hold",
      reason: "budget-spent",
      why: expect.stringMatching(/restartBudget is 0/),
    });
  });
});
