import { describe, expect, it } from "vitest";
import { type Decision, decide, type GroupMemory, type Observation, type Policy } from "./decide.ts";

const policy: Policy = {
  unhealthyForMs: 3000,
  restartBudget: 2,
  restartWindowMs: 600_000,
  restartBackoffMs: 5000,
  minFailoverIntervalMs: 120_000,
  holdStaleShare: 0.5,
};
const NOW = 1_000_000;

function run(
  primary: Observation | undefined,
  memory: Partial<GroupMemory> = {},
  standby: Observation = { state: "healthy", since: 0 },
  staleShare = 0,
): Decision {
  const group: GroupMemory = { primary: "gw", standby: "gw-standby", restarts: [], ...memory };
  return decide(group, (agent) => (agent === "gw" ? primary : standby), staleShare, NOW, policy);
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

  it("fails over at once when the primary is stale (its host may be gone)", () => {
    expect(run({ state: "stale", since: NOW - 3000 })).toMatchObject({
      action: "failover",
      why: expect.stringMatching(/stopped sending heartbeats/),
    });
  });

  it("holds: most of the fleet stale at once, the standby unhealthy too, or a failover too recent", () => {
    const down = { state: "stale" as const, since: NOW - 60_000 };
    expect(run(down, {}, undefined, 0.6)).toMatchObject({
      action: "hold",
      why: expect.stringMatching(/60 % of the fleet/),
    });
    expect(run(down, {}, { state: "unhealthy", since: 0 })).toMatchObject({
      action: "hold",
      why: expect.stringMatching(/standby/),
    });
    expect(run(down, { lastFailoverAt: NOW - 60_000 })).toMatchObject({
      action: "hold",
      why: expect.stringMatching(/minimum 120000 ms/),
    });
    expect(run(down, { lastFailoverAt: NOW - 120_000 }).action).toBe("failover");
  });
});
