import { mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { ulid } from "@clawguard/shared/ids";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { diskLowReasons } from "../../api/disk.ts";
import { SpillRetention } from "./spill-retention.ts";

const source = { agent: "main", role: "agent", host: "h" };
const DAY = 24 * 3600 * 1000;
let tmp: ReturnType<typeof tempDir>;
let dir: string;

beforeEach(() => {
  tmp = tempDir("clawguard-spill-retention-");
  dir = join(tmp.path, "spill");
  mkdirSync(dir);
});
afterEach(() => tmp.cleanup());

/** A spill of `bytes` (plus its meta file) last written `ageMs` ago; ids in creation order. */
function spill(bytes: number, ageMs: number, createdAt: number): string {
  const id = ulid(createdAt);
  const when = new Date(Date.now() - ageMs);
  writeFileSync(join(dir, `${id}.out`), Buffer.alloc(bytes, 0x61));
  writeFileSync(join(dir, `${id}.json`), "{}");
  utimesSync(join(dir, `${id}.out`), when, when);
  utimesSync(join(dir, `${id}.json`), when, when);
  return id;
}

function retention(maxBytes: number, published: EventDraft[], fail = false) {
  return new SpillRetention({
    dir,
    maxBytes,
    retentionMs: 7 * DAY,
    sweepIntervalMs: 60_000,
    source,
    publish: async (drafts) => {
      if (fail) throw new Error("spool full");
      published.push(...drafts);
    },
    log: silentLogger,
  });
}

describe("spill retention", () => {
  it("deletes spills past the retention, then the oldest over the cap, never a live one, and says so", async () => {
    const t = Date.now();
    const old = spill(100, 8 * DAY, t - 9 * DAY);
    const a = spill(4000, 60_000, t - 5000);
    const b = spill(4000, 60_000, t - 4000);
    const c = spill(4000, 60_000, t - 3000);
    const live = spill(4000, 0, t - 2000); // still being written: never taken for the cap
    const stray = join(dir, "notes.txt");
    writeFileSync(stray, "not a spill");
    const published: EventDraft[] = [];
    await retention(9000, published).sweep();
    const left = readdirSync(dir).sort();
    expect(left).toEqual([`${c}.json`, `${c}.out`, `${live}.json`, `${live}.out`, "notes.txt"].sort());
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ type: "spill.expired" });
    expect(published[0]?.attrs).toMatchObject({ count: 3, bytes: 100 + 2 + 2 * 4002, by_age: 1, by_cap: 2 });
    expect(published[0]?.attrs.ids).toEqual([old, a, b]);
    // Nothing more to do: no event.
    await retention(9000, published).sweep();
    expect(published).toHaveLength(1);
  });

  it("reports with the next sweep what it could not publish", async () => {
    const t = Date.now();
    const first = spill(10, 8 * DAY, t - 9 * DAY);
    const published: EventDraft[] = [];
    let spoolFull = true;
    const sweeper = new SpillRetention({
      dir,
      maxBytes: 1 << 30,
      retentionMs: 7 * DAY,
      sweepIntervalMs: 60_000,
      source,
      publish: async (drafts) => {
        if (spoolFull) throw new Error("spool full");
        published.push(...drafts);
      },
      log: silentLogger,
    });
    await expect(sweeper.sweep()).rejects.toThrow(/spool full/);
    expect(readdirSync(dir)).toEqual([]);
    spoolFull = false;
    const second = spill(10, 8 * DAY, t - 8 * DAY);
    await sweeper.sweep();
    expect(published).toHaveLength(1);
    expect(published[0]?.attrs).toMatchObject({ count: 2, ids: [first, second] });
  });
});

describe("disk low", () => {
  it("names each filesystem under the threshold once, with its free space", () => {
    const everything = { minFreeBytes: Number.MAX_SAFE_INTEGER, minFreePercent: 100 };
    const reasons = diskLowReasons(
      [
        { what: "workspace", path: tmp.path },
        { what: "stateDir", path: dir },
      ],
      everything,
    );
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(
      /^disk_low: workspace .* has [\d.]+ MiB free of [\d.]+ MiB \([\d.]+ %\), under/,
    );
    expect(
      diskLowReasons([{ what: "workspace", path: tmp.path }], { minFreeBytes: 0, minFreePercent: 2 }),
    ).toEqual([]);
  });
});
