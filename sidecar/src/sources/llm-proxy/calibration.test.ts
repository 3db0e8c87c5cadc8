import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { Calibration, estimateOf, rawBudget } from "./calibration.ts";

const whole = (total: number) => ({ prefix: 0, total });
const WIDE = { name: "estimate:wide", bound: 0.3 };
const O200K = { name: "o200k_base", bound: 0.02 };

describe("Calibration", () => {
  it("starts at the tokenizer's own bound and converges on the provider's ratio", () => {
    const book = new Calibration();
    expect(book.correction("p", "m", WIDE.name, WIDE.bound)).toEqual({
      offset: 0,
      ratio: 1,
      bound: 0.3,
      prefixRaw: 0,
      prefixError: 0,
      samples: 0,
      from: "none",
    });
    const bounds: number[] = [];
    for (let i = 0; i < 5; i++) {
      book.record("p", "m", WIDE, whole(10_000 + i * 1000), Math.round((10_000 + i * 1000) * 0.8));
      bounds.push(book.correction("p", "m", WIDE.name, WIDE.bound).bound);
    }
    const c = book.correction("p", "m", WIDE.name, WIDE.bound);
    expect(c.ratio).toBeCloseTo(0.8, 3);
    expect(c.from).toBe("model");
    // The bound narrows with every sample that agrees, towards the floor.
    for (let i = 1; i < bounds.length; i++) expect(bounds[i]).toBeLessThan(bounds[i - 1] as number);
    expect(c.bound).toBeLessThan(0.07);
  });

  it("keeps the bound at least as wide as the samples stray", () => {
    const book = new Calibration();
    for (const r of [1.25, 1.2, 1.3, 1.25, 1.1]) book.record("p", "m", O200K, whole(10_000), 10_000 * r);
    const c = book.correction("p", "m", O200K.name, O200K.bound);
    expect(c.ratio).toBe(1.25);
    expect(c.bound).toBeCloseTo(0.12, 5); // 1.1 is 12% off the median: the band says so
  });

  it("sets a wild sample aside, and takes three in a row that agree as a change of model", () => {
    const book = new Calibration();
    for (const r of [1.25, 1.24, 1.26]) book.record("p", "m", O200K, whole(10_000), 10_000 * r);
    book.record("p", "m", O200K, whole(10_000), 10_000 * 0.6); // a provider under-reporting once
    expect(book.correction("p", "m", O200K.name, O200K.bound)).toMatchObject({ ratio: 1.25, samples: 3 });
    expect(book.correction("p", "m", O200K.name, O200K.bound).bound).toBeLessThan(0.02 + 0.01);
    book.record("p", "m", O200K, whole(10_000), 10_000 * 1.25); // an ordinary one clears the streak
    book.record("p", "m", O200K, whole(10_000), 10_000 * 0.6);
    book.record("p", "m", O200K, whole(10_000), 10_000 * 0.61);
    expect(book.correction("p", "m", O200K.name, O200K.bound).samples).toBe(4);
    book.record("p", "m", O200K, whole(10_000), 10_000 * 0.62); // the third in a row: another model
    expect(book.correction("p", "m", O200K.name, O200K.bound)).toMatchObject({ ratio: 0.61, samples: 3 });
  });

  it("ignores small requests and ratios beyond half or twice the counter's own count", () => {
    const book = new Calibration();
    book.record("p", "m", O200K, whole(200), 400); // framing, not the tokenizer
    book.record("p", "m", O200K, whole(10_000), 100); // 0.01: a cached prefix left out, not a count
    book.record("p", "m", O200K, whole(10_000), 4_900); // a provider under-reporting by half and more
    book.record("p", "m", O200K, whole(10_000), 20_100);
    expect(book.correction("p", "m", O200K.name, O200K.bound).samples).toBe(0);
    // However many there are: the correction never leaves [0.5, 2] of the counter's count.
    for (let i = 0; i < 20; i++) book.record("p", "m", WIDE, whole(10_000), 4_000);
    expect(book.correction("p", "m", WIDE.name, WIDE.bound).from).toBe("none");
  });

  it("lends a provider's ratio to a model it has not seen, counted by the same tokenizer", () => {
    const book = new Calibration();
    book.record("p", "known", WIDE, whole(20_000), 16_000);
    expect(book.correction("p", "new-model", WIDE.name, WIDE.bound)).toMatchObject({
      ratio: 0.8,
      from: "provider",
    });
    expect(book.correction("p", "new-model", O200K.name, O200K.bound).from).toBe("none");
    expect(book.correction("other", "known", WIDE.name, WIDE.bound).from).toBe("none");
  });

  it("starts afresh for a model when its tokenizer changes", () => {
    const book = new Calibration();
    book.record("p", "m", WIDE, whole(20_000), 16_000);
    book.record("p", "m", O200K, whole(20_000), 25_000);
    expect(book.correction("p", "m", O200K.name, O200K.bound)).toMatchObject({ ratio: 1.25, samples: 1 });
  });

  it("is kept across restarts, and a damaged file starts afresh", async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "llm-calibration.json");
      const first = new Calibration({ file });
      for (let i = 0; i < 3; i++) first.record("p", "m", WIDE, whole(20_000), 15_000);
      await first.flush();
      const again = new Calibration({ file });
      expect(again.correction("p", "m", WIDE.name, WIDE.bound)).toMatchObject({ ratio: 0.75, samples: 3 });
      expect(again.entries()).toEqual([
        {
          provider: "p",
          model: "m",
          tokenizer: "estimate:wide",
          ratio: 0.75,
          bound: again.entries()[0]?.bound,
          samples: 3,
          prefixes: 0,
          consistent: true,
        },
      ]);
      expect(JSON.parse(readFileSync(file, "utf8")).version).toBe(2);
      writeFileSync(file, "{not json");
      expect(new Calibration({ file }).entries()).toEqual([]);
      writeFileSync(
        file,
        JSON.stringify({ version: 2, books: { "p\u0000m": { tokenizer: "x", ratios: [99, "a"] } } }),
      );
      expect(new Calibration({ file }).entries()).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });

  it("refuses, with a warning each, the entries of a tampered file that are out of bounds, and keeps the rest", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "llm-calibration.json");
      const good = {
        tokenizer: "o200k_base",
        bound: 0.02,
        ratios: [1.2, 1.25],
        restRatios: [],
        prefixes: [],
      };
      const books = {
        "p\u0000good": good,
        // A provider made to look as if it counted a tenth: the guard would let 10x the window through.
        "p\u0000tiny": { ...good, ratios: [0.1, 0.1, 0.1] },
        "p\u0000loose": { ...good, bound: 7 },
        "p\u0000prefix": { ...good, prefixes: [[10_000, 100, 0]] },
        "p\u0000many": { ...good, ratios: Array.from({ length: 99 }, () => 1) },
        "no-model": good,
      };
      writeFileSync(file, JSON.stringify({ version: 2, books }));
      const warnings: Record<string, unknown>[] = [];
      const log = {
        ...silentLogger,
        warn: (_msg: string, fields?: Record<string, unknown>) => void warnings.push(fields ?? {}),
      };
      const loaded = new Calibration({ file, log });
      expect(loaded.entries().map((e) => e.model)).toEqual(["good"]);
      expect(warnings.map((w) => w.entry)).toEqual([
        "p\u0000tiny",
        "p\u0000loose",
        "p\u0000prefix",
        "p\u0000many",
        "no-model",
      ]);
      expect(String(warnings[0]?.error)).toMatch(/ratios: expected ratios in \[0.5, 2\], got 0.1/);
      expect(String(warnings[1]?.error)).toMatch(/bound/);
    } finally {
      dir.cleanup();
    }
  });

  it("learns a stable prefix's provider count, so that a ratio learnt on it is not applied to a tool's digits", () => {
    const book = new Calibration();
    // OpenClaw's system prompt and tools: the estimate says 20 700, the provider 12 400; "ping" beside it.
    book.record("p", "m", WIDE, { prefix: 20_700, total: 20_900 }, 12_500);
    // Then the same prefix and a 27 000-token tool output the estimate counts about right.
    const c = book.correction("p", "m", WIDE.name, WIDE.bound, 20_700);
    expect(c.from).toBe("prefix");
    const { estimate, error } = estimateOf(20_700 + 27_000, c);
    expect(estimate).toBeGreaterThan(39_000); // not 0.6 x 47 700 = 28 500
    expect(estimate - error).toBeLessThan(39_600);
    // The whole-request ratio alone would have undercounted it by ~30%.
    expect(book.correction("p", "m", WIDE.name, WIDE.bound).ratio).toBeLessThan(0.61);
    // The budget is the largest raw count whose estimate at the top of its error fits the room.
    const budget = rawBudget(30_000, c);
    const top = estimateOf(budget, c);
    expect(top.estimate + top.error).toBeLessThanOrEqual(30_000);
    expect(estimateOf(budget + 10, c).estimate + estimateOf(budget + 10, c).error).toBeGreaterThan(30_000);
  });

  it("learns the rest's ratio once the prefix is known, and converges on homogeneous content", () => {
    const book = new Calibration();
    book.record("p", "m", WIDE, { prefix: 20_000, total: 20_100 }, 11_000);
    for (let i = 0; i < 5; i++)
      book.record(
        "p",
        "m",
        WIDE,
        { prefix: 20_000, total: 30_000 + i * 1000 },
        11_000 + (10_000 + i * 1000) * 0.8,
      );
    const c = book.correction("p", "m", WIDE.name, WIDE.bound, 20_000);
    expect(c.ratio).toBeCloseTo(0.8, 1);
    const { estimate } = estimateOf(40_000, c);
    expect(estimate / (11_000 + 20_000 * 0.8)).toBeGreaterThan(0.98);
    expect(estimate / (11_000 + 20_000 * 0.8)).toBeLessThan(1.02);
  });

  it("does not use samples that stray too far to be a tokenizer's error (a gateway counting differently call by call)", () => {
    const book = new Calibration();
    for (const r of [0.75, 1.25, 1, 0.75, 1.25, 0.75, 1.25, 1])
      book.record("p", "m", WIDE, whole(20_000), 20_000 * r);
    expect(book.correction("p", "m", WIDE.name, WIDE.bound)).toMatchObject({
      ratio: 1,
      bound: 0.3,
      from: "none",
    });
    expect(book.entries()[0]).toMatchObject({ samples: 8, consistent: false });
    expect(book.correction("p", "other", WIDE.name, WIDE.bound).from).toBe("none"); // nor lent
  });

  it("lists a model in entries from its first count, before any sample", () => {
    const book = new Calibration();
    book.note("p", "m", O200K);
    expect(book.entries()).toEqual([
      {
        provider: "p",
        model: "m",
        tokenizer: "o200k_base",
        ratio: 1,
        bound: 0.02,
        samples: 0,
        prefixes: 0,
        consistent: true,
      },
    ]);
  });
});
