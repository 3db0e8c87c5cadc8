import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { Calibration } from "./calibration.ts";

const WIDE = { name: "estimate:wide", bound: 0.3 };
const O200K = { name: "o200k_base", bound: 0.02 };

describe("Calibration", () => {
  it("starts at the tokenizer's own bound and converges on the provider's ratio", () => {
    const book = new Calibration();
    expect(book.correction("p", "m", WIDE.name, WIDE.bound)).toEqual({
      ratio: 1,
      bound: 0.3,
      samples: 0,
      from: "none",
    });
    const bounds: number[] = [];
    for (let i = 0; i < 5; i++) {
      book.record("p", "m", WIDE, 10_000 + i * 1000, Math.round((10_000 + i * 1000) * 0.8));
      bounds.push(book.correction("p", "m", WIDE.name, WIDE.bound).bound);
    }
    const c = book.correction("p", "m", WIDE.name, WIDE.bound);
    expect(c.ratio).toBeCloseTo(0.8, 3);
    expect(c.from).toBe("model");
    // The bound narrows with every sample that agrees, towards the floor.
    for (let i = 1; i < bounds.length; i++) expect(bounds[i]).toBeLessThan(bounds[i - 1] as number);
    expect(c.bound).toBeLessThan(0.07);
  });

  it("keeps the bound at least as wide as the samples stray, and one wild sample moves the median little", () => {
    const book = new Calibration();
    for (const r of [1.25, 1.24, 1.26, 1.25, 2.5]) book.record("p", "m", O200K, 10_000, 10_000 * r);
    const c = book.correction("p", "m", O200K.name, O200K.bound);
    expect(c.ratio).toBe(1.25);
    expect(c.bound).toBeGreaterThanOrEqual(1); // 2.5 is 100% off the median: the band says so
  });

  it("ignores small requests and insane ratios", () => {
    const book = new Calibration();
    book.record("p", "m", O200K, 200, 400); // framing, not the tokenizer
    book.record("p", "m", O200K, 10_000, 100); // 0.01: a cached prefix left out, not a count
    expect(book.correction("p", "m", O200K.name, O200K.bound).samples).toBe(0);
  });

  it("lends a provider's ratio to a model it has not seen, counted by the same tokenizer", () => {
    const book = new Calibration();
    book.record("p", "known", WIDE, 20_000, 16_000);
    expect(book.correction("p", "new-model", WIDE.name, WIDE.bound)).toMatchObject({
      ratio: 0.8,
      from: "provider",
    });
    expect(book.correction("p", "new-model", O200K.name, O200K.bound).from).toBe("none");
    expect(book.correction("other", "known", WIDE.name, WIDE.bound).from).toBe("none");
  });

  it("starts afresh for a model when its tokenizer changes", () => {
    const book = new Calibration();
    book.record("p", "m", WIDE, 20_000, 16_000);
    book.record("p", "m", O200K, 20_000, 25_000);
    expect(book.correction("p", "m", O200K.name, O200K.bound)).toMatchObject({ ratio: 1.25, samples: 1 });
  });

  it("is kept across restarts, and a damaged file starts afresh", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "llm-calibration.json");
      const first = new Calibration({ file });
      for (let i = 0; i < 3; i++) first.record("p", "m", WIDE, 20_000, 15_000);
      first.flush();
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
        },
      ]);
      expect(JSON.parse(readFileSync(file, "utf8")).version).toBe(1);
      writeFileSync(file, "{not json");
      expect(new Calibration({ file }).entries()).toEqual([]);
      writeFileSync(
        file,
        JSON.stringify({ version: 1, books: { "p\u0000m": { tokenizer: "x", ratios: [99, "a"] } } }),
      );
      expect(new Calibration({ file }).entries()).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });
});
