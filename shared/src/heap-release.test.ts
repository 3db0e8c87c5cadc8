import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HeapRelease, type HeapSample, shouldRelease } from "./heap-release.ts";
import { silentLogger } from "./log.ts";

const MB = 2 ** 20;
const limits = { slackBytes: 32 * MB, quietBytes: 2 * MB };

describe("shouldRelease", () => {
  it("collects only when quiet since the last check and grown past the mark", () => {
    const at = (rss: number, heapUsed: number): HeapSample => ({ rss: rss * MB, heapUsed: heapUsed * MB });
    expect(shouldRelease(at(300, 200), at(300, 200.5), 100 * MB, limits)).toBe(true);
    expect(shouldRelease(at(300, 150), at(300, 200), 100 * MB, limits)).toBe(false); // allocating
    expect(shouldRelease(at(300, 200), at(300, 120), 100 * MB, limits)).toBe(false); // just collected
    expect(shouldRelease(at(120, 50), at(120, 50), 100 * MB, limits)).toBe(false); // not grown enough
  });
});

describe("HeapRelease", () => {
  it("runs once per growth past the mark, and not again until the next", async () => {
    let sample: HeapSample = { rss: 100 * MB, heapUsed: 40 * MB };
    let collected = 0;
    const release = new HeapRelease({
      log: silentLogger,
      sample: () => sample,
      collect: () => {
        collected++;
        sample = { rss: 110 * MB, heapUsed: 30 * MB };
      },
    });
    await release.start();
    sample = { rss: 300 * MB, heapUsed: 200 * MB };
    release.check(); // grew, but allocated since the last check
    expect(collected).toBe(0);
    release.check(); // quiet now
    expect(collected).toBe(1);
    release.check();
    release.check();
    expect(collected).toBe(1); // at the new mark
    await release.stop();
    await release.stop();
  });

  it("gives a burst's garbage back to the system in a real process", () => {
    const module = fileURLToPath(new URL("./heap-release.ts", import.meta.url));
    const script = `
      import { HeapRelease } from ${JSON.stringify(module)};
      const log = { debug() {}, info() {}, warn() {}, error() {}, child() { return log; } };
      const release = new HeapRelease({ log, everyMs: 3_600_000 });
      await release.start();
      let junk = [];
      for (let i = 0; i < 400_000; i++) junk.push({ text: "x".repeat(200) + i, i });
      junk = undefined;
      release.check(); // allocated since the start: not quiet
      const before = process.memoryUsage.rss();
      release.check();
      console.log(JSON.stringify({ before, after: process.memoryUsage.rss(), released: release.released }));
      await release.stop();`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const { before, after, released } = JSON.parse(run.stdout) as Record<string, number>;
    expect(released).toBe(1);
    expect((before as number) - (after as number)).toBeGreaterThan(64 * MB);
  });
});
