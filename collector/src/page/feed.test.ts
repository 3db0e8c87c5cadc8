import { describe, expect, it } from "vitest";
import { fleetFeed, type LiveView } from "./feed.ts";

const agent = (i: number, state = "healthy") => ({ agent: `agent-${String(i).padStart(2, "0")}`, state });
const viewOf = (agents: { agent: string }[], incidents: unknown[] = []): LiveView => ({
  agents,
  drift: [],
  incidents,
  alerts: [],
});
const fleet = (n: number) => Array.from({ length: n }, (_, i) => agent(i));

/** The fleet page's stream sends what changed, not the whole fleet every tick (attack finding). */
describe("fleetFeed", () => {
  it("starts with the full view, keeps the frame while nothing changes", () => {
    const feed = fleetFeed();
    const first = feed(viewOf(fleet(4)));
    expect(first.seq).toBe(1);
    expect(JSON.parse(first.full)).toEqual({ seq: 1, full: true, ...viewOf(fleet(4)) });
    expect(first.since(0)).toBeUndefined();
    expect(feed(viewOf(fleet(4)))).toBe(first);
  });

  it("sends the agents changed, added and removed by name, and the parts that changed", () => {
    const feed = fleetFeed();
    feed(viewOf(fleet(10)));
    const agents = fleet(10).filter((a) => a.agent !== "agent-05");
    agents[2] = agent(2, "unhealthy");
    agents.push(agent(10));
    const next = feed(viewOf(agents, [{ agent: "agent-02" }]));
    expect(next.seq).toBe(2);
    expect(JSON.parse(next.full).agents).toEqual(agents);
    expect(next.since(1)?.map((d) => JSON.parse(d))).toEqual([
      {
        seq: 2,
        from: 1,
        agents: [agent(2, "unhealthy"), agent(10)],
        removed: ["agent-05"],
        incidents: [{ agent: "agent-02" }],
      },
    ]);
  });

  it("brings a stream two frames behind up with two deltas, one too far behind with the full view", () => {
    const feed = fleetFeed();
    const agents = fleet(40);
    feed(viewOf(agents));
    let last = feed(viewOf(agents));
    for (let i = 0; i < 12; i++) {
      agents[i % 10] = agent(i % 10, `state-${i}`);
      last = feed(viewOf(agents));
    }
    expect(last.seq).toBe(13);
    expect(last.since(11)?.map((d) => JSON.parse(d).seq)).toEqual([12, 13]);
    expect(last.since(13)).toBeUndefined();
    expect(last.since(2)).toBeUndefined(); // 8 deltas kept
    expect(last.since(5)).toHaveLength(8);
  });

  it("keeps no more delta bytes than one full view", () => {
    const feed = fleetFeed();
    const agents = fleet(4);
    feed(viewOf(agents));
    let last = feed(viewOf(agents));
    for (let i = 0; i < 8; i++) {
      agents[0] = agent(0, `a state long enough to make the delta ${"x".repeat(100)} ${i}`);
      last = feed(viewOf(agents));
    }
    expect(last.since(last.seq - 1)).toHaveLength(1);
    expect(last.since(last.seq - 2)).toBeUndefined();
  });

  it("sends the full view when more than half the agents changed", () => {
    const feed = fleetFeed();
    feed(viewOf(fleet(10)));
    const next = feed(viewOf(fleet(10).map((a, i) => (i < 6 ? agent(i, "degraded") : a))));
    expect(next.seq).toBe(2);
    expect(next.since(1)).toBeUndefined();
    const small = feed(viewOf(fleet(10).map((a, i) => (i < 7 ? agent(i, "degraded") : a))));
    expect(small.since(2)).toHaveLength(1);
    expect(small.since(1)).toBeUndefined(); // the one before was the full view
  });
});
