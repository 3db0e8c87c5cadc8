import { describe, expect, it } from "vitest";
import { sharedView } from "./index.ts";

/** The fleet page's streams share one live view per tick (attack finding, issue 16). */
describe("sharedView", () => {
  it("builds once for any number of streams in a tick, again the next tick", async () => {
    let clock = 0;
    let builds = 0;
    const view = sharedView(
      async () => {
        builds++;
        return JSON.stringify({ n: builds });
      },
      1000,
      () => clock,
    );
    const first = await Promise.all(Array.from({ length: 10 }, () => view()));
    expect(builds).toBe(1);
    expect(new Set(first)).toEqual(new Set(['{"n":1}']));
    clock += 999;
    expect(await view()).toBe('{"n":1}');
    clock += 1;
    expect(await Promise.all([view(), view(), view()])).toEqual(['{"n":2}', '{"n":2}', '{"n":2}']);
    expect(builds).toBe(2);
  });

  it("tries again at once after a failed build (a store that did not answer)", async () => {
    let fail = true;
    const view = sharedView(
      async () => {
        if (fail) throw new Error("store down");
        return JSON.stringify({ ok: true });
      },
      1000,
      () => 0,
    );
    await expect(view()).rejects.toThrow(/store down/);
    fail = false;
    expect(await view()).toBe('{"ok":true}');
  });
});
