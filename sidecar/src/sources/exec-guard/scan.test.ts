import { randomBytes } from "node:crypto";
import { seededRandom } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import {
  countNewlines,
  ERROR_LINE,
  ERROR_WORDS,
  FINGERPRINT_OFFSET,
  FINGERPRINTS,
  findCandidate,
  scanWindow,
} from "./scan.ts";

function naive(buf: Buffer, from = 0, to = buf.length): number {
  let n = 0;
  for (let i = from; i < to; i++) if (buf[i] === 10) n++;
  return n;
}

/** Random bytes with many newlines and bytes that differ from \n by one bit (0x0b, 0x8a, 0x0e...). */
function noisy(length: number): Buffer {
  const buf = randomBytes(length);
  const tricky = [10, 10, 10, 0x0b, 0x8a, 0x0e, 0x02, 0x1a, 0x4a, 0x00, 0xff, 0x09];
  for (let i = 0; i < length; i++) {
    if ((buf[i] as number) < 96) buf[i] = tricky[(buf[i] as number) % tricky.length] as number;
  }
  return buf;
}

describe("countNewlines", () => {
  it("matches a naive count on random buffers of every small length", () => {
    for (let length = 0; length < 300; length++) {
      const buf = noisy(length);
      expect(countNewlines(buf)).toBe(naive(buf));
    }
  });

  it("matches a naive count at odd byte offsets of the underlying memory", () => {
    const backing = noisy(70_000);
    for (let round = 0; round < 200; round++) {
      const start = round % 13;
      const length = (round * 331) % 65_000;
      const view = backing.subarray(start, start + length); // byteOffset not a multiple of 4
      expect(countNewlines(view)).toBe(naive(view));
    }
  });

  it("matches a naive count for ranges [from, to) inside a buffer", () => {
    const buf = noisy(4099);
    for (let round = 0; round < 500; round++) {
      const a = Math.floor(Math.random() * buf.length);
      const b = Math.floor(Math.random() * buf.length);
      const [from, to] = a <= b ? [a, b] : [b, a];
      expect(countNewlines(buf, from, to)).toBe(naive(buf, from, to));
    }
    expect(countNewlines(buf, 10, 10)).toBe(0);
  });

  it("counts long runs of newlines past the point where a 16-bit lane would wrap", () => {
    // 63 SIMD rounds of four loads (252 a lane) fill a byte lane; 70 000 newlines cross many.
    expect(countNewlines(Buffer.alloc(70_000, 10))).toBe(70_000);
    expect(countNewlines(Buffer.alloc(1_000_003, 10), 5, 1_000_000)).toBe(999_995);
    const big = noisy(300_000);
    expect(countNewlines(big)).toBe(naive(big));
  });

  it("counts in place what is read into its window, at any offset and length", () => {
    const window = scanWindow();
    const source = noisy(window.length);
    source.copy(window);
    for (const [from, to] of [
      [0, window.length],
      [1, 17],
      [3, window.length - 5],
      [16, 16],
    ] as const) {
      expect(countNewlines(window, from, to)).toBe(naive(source, from, to));
    }
  });

  it("counts words that are all newlines and words with none", () => {
    expect(countNewlines(Buffer.alloc(4096, 10))).toBe(4096);
    expect(countNewlines(Buffer.alloc(4096, 0x0b))).toBe(0);
    expect(countNewlines(Buffer.alloc(4096, 0x8a))).toBe(0);
    expect(countNewlines(Buffer.from("a\nb\n\nc"))).toBe(3);
    // Pooled small buffers share one ArrayBuffer at arbitrary offsets.
    const pooled = Buffer.from("x\ny\n\n\nz");
    expect(countNewlines(pooled)).toBe(4);
  });
});

describe("ERROR_LINE", () => {
  it("finds error-looking words in any case and leaves ordinary lines alone", () => {
    const hits = (text: string) => text.match(new RegExp(ERROR_LINE.source, ERROR_LINE.flags)) ?? [];
    expect(hits("ERROR: x\nTraceback (most recent call last)\nPermission denied\nmodule not found")).toEqual([
      "ERROR",
      "Traceback",
      "denied",
      "not found",
    ]);
    expect(hits("compiled 42 files\nall good\n")).toEqual([]);
  });
});

describe("findCandidate", () => {
  const prints = FINGERPRINTS.flat();
  /** The first fingerprint in buf[from, to), ASCII case ignored, found the obvious way. */
  const naive = (buf: Buffer, from: number, to: number): number => {
    const text = buf.toString("latin1", from, to).replace(/[A-Z]/g, (c) => c.toLowerCase());
    const at = prints.map((p) => text.indexOf(p)).filter((i) => i >= 0);
    return at.length === 0 ? -1 : from + Math.min(...at);
  };

  it("has a fingerprint in every error word, near its start", () => {
    for (const word of ERROR_WORDS) {
      const at = prints.map((p) => word.indexOf(p)).filter((i) => i >= 0);
      expect(at.length, word).toBeGreaterThan(0);
      expect(Math.min(...at), word).toBeLessThanOrEqual(FINGERPRINT_OFFSET);
    }
  });

  it("finds no fingerprint later than the first one, in any case, at any offset and length", () => {
    const random = seededRandom(7);
    const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ \n\0\u00ff\u00e9";
    let misses = 0;
    let falseHits = 0;
    for (let round = 0; round < 5000; round++) {
      let text = "";
      const length = Math.floor(random() * 120);
      for (let i = 0; i < length; i++) {
        const print = prints[Math.floor(random() * prints.length)] as string;
        text +=
          random() < 0.03
            ? [...print].map((c) => (random() < 0.5 ? c.toUpperCase() : c)).join("")
            : alphabet[Math.floor(random() * alphabet.length)];
      }
      const buf = Buffer.from(text, "latin1");
      const from = Math.floor(random() * (buf.length + 1));
      const to = from + Math.floor(random() * (buf.length - from + 1));
      const got = findCandidate(buf, from, to);
      const want = naive(buf, from, to);
      // A hit may come early (nibbles alias), never late, never missing.
      if (want !== -1 && (got === -1 || got > want)) misses++;
      if (got !== -1 && (want === -1 || got < want)) falseHits++;
      if (got !== -1) expect(got).toBeGreaterThanOrEqual(from);
      if (got !== -1) expect(got + 4).toBeLessThanOrEqual(to);
    }
    expect(misses).toBe(0);
    expect(falseHits).toBeLessThan(100);
  });

  it("finds a lone fingerprint anywhere in a long run without one (the 64-position rounds)", () => {
    const random = seededRandom(11);
    for (let round = 0; round < 3000; round++) {
      const buf = Buffer.alloc(1 + Math.floor(random() * 700), 0x78);
      const print = prints[Math.floor(random() * prints.length)] as string;
      const at = Math.floor(random() * buf.length);
      if (round % 10 !== 0) buf.write(print.toUpperCase(), at, "latin1");
      const from = Math.floor(random() * (buf.length + 1));
      const to = from + Math.floor(random() * (buf.length - from + 1));
      expect(findCandidate(buf, from, to), `${print} at ${at} in [${from}, ${to})`).toBe(
        naive(buf, from, to),
      );
    }
  });

  it("finds a fingerprint across the pieces a big buffer is copied in, and at the end of its window", () => {
    const big = Buffer.alloc(300_000, 0x78);
    big.write("KiLl", 65_534, "latin1");
    expect(findCandidate(big)).toBe(65_534);
    expect(findCandidate(big, 65_535)).toBe(-1);
    const window = scanWindow();
    window.fill(0x78);
    window.write("FAIL", window.length - 4, "latin1");
    expect(findCandidate(window)).toBe(window.length - 4);
    expect(findCandidate(window, 0, window.length - 1)).toBe(-1);
  });

  it("passes over ordinary output: numbers, log lines, and words near an error word", () => {
    const lines = [
      "12345678",
      "INFO worker 3 processed job 42 in 17 ms",
      "enable the default for the span",
      "",
    ];
    expect(findCandidate(Buffer.from(lines.join("\n").repeat(2000)))).toBe(-1);
  });
});
