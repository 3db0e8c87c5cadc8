import { describe, expect, it } from "vitest";
import { type Component, Runner } from "./lifecycle.ts";

function component(id: string, stopMs: number, order: string[]): Component {
  return {
    id,
    start: async () => {},
    stop: async () => {
      order.push(id);
      await new Promise((r) => setTimeout(r, stopMs));
    },
  };
}

describe("Runner.stop", () => {
  it("stops in reverse within the deadline: a stuck component is reported and the rest still stop", async () => {
    const order: string[] = [];
    const runner = new Runner([
      component("sink", 0, order),
      component("stuck", 60_000, order),
      component("source", 10, order),
    ]);
    await runner.start();
    const t0 = performance.now();
    const err = await runner.stop(300).catch((e: unknown) => e);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(600);
    expect(order).toEqual(["source", "stuck", "sink"]);
    expect(String(err)).toContain("stuck: not stopped within the deadline of 300 ms");
    expect(String(err)).not.toContain("sink:");
  });

  it("collects failures without a deadline being hit", async () => {
    const runner = new Runner([
      {
        id: "a",
        start: async () => {},
        stop: async () => {
          throw new Error("disk gone");
        },
      },
      { id: "b", start: async () => {}, stop: async () => {} },
    ]);
    await runner.start();
    await expect(runner.stop()).rejects.toThrow("a: disk gone");
  });
});
