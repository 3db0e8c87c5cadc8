import { createHash } from "node:crypto";
import { seededRandom } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { OutputScanner } from "./output-scanner.ts";
import { ERROR_LINE, ERROR_WORDS, scanWindow } from "./scan.ts";

/**
 * What the scanner should find, computed the obvious way over the whole text at once (each line
 * kept to its first 1200 bytes, shown decoded as UTF-8).
 */
function expected(text: string) {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const errors = lines
    .map((line, i) => ({ line: i + 1, text: Buffer.from(line.slice(0, 1200), "latin1").toString("utf8") }))
    .filter((_, i) => new RegExp(ERROR_LINE.source, "i").test(lines[i] as string));
  return { lines: lines.length, errors };
}

/** Each error word in a random mix of cases. */
const anyCase = (random: () => number, word: string) =>
  [...word].map((c) => (random() < 0.5 ? c.toUpperCase() : c)).join("");

/**
 * Log-like text: short and long lines, every error word now and then in any case, words that share
 * fingerprints with them or nearly ("enable", "mirror", "fatl", "kilt", "four"), non-ASCII bytes,
 * sometimes no final newline.
 */
function logText(random: () => number): string {
  const words = [
    "ok",
    "compiled",
    "module",
    "ERROR",
    "Failed",
    "step",
    "panic:",
    "x".repeat(900),
    "done",
    "enable",
    "mirror",
    "fatl",
    "kilt",
    "four",
    "unabr",
    "caf\u00e9 \u00ff\u0080",
    "fail".repeat(300),
  ];
  const lines: string[] = [];
  const count = 50 + Math.floor(random() * 400);
  for (let i = 0; i < count; i++) {
    const n = Math.floor(random() * 6);
    lines.push(
      Array.from({ length: n }, () =>
        random() < 0.05
          ? anyCase(random, ERROR_WORDS[Math.floor(random() * ERROR_WORDS.length)] as string)
          : words[Math.floor(random() * words.length)],
      ).join(random() < 0.8 ? " " : ""),
    );
  }
  return lines.join("\n") + (random() < 0.5 ? "\n" : "");
}

describe("OutputScanner", () => {
  it("finds the same lines, counts and hash however the output is cut into chunks", () => {
    const random = seededRandom(20_261_126);
    for (let round = 0; round < 80; round++) {
      const text = logText(random);
      const bytes = Buffer.from(text, "latin1");
      const scanner = new OutputScanner(64);
      // Half the rounds as the exec guard reads: into the scanner's own memory, scanned in place.
      const window = round % 2 === 0 ? scanWindow() : undefined;
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(random() * (random() < 0.3 ? 8 : 3000));
        const piece = bytes.subarray(at, at + size);
        scanner.push(window ? window.subarray(0, piece.copy(window)) : piece);
        at += size;
      }
      const { sha256, head } = scanner.finish();
      const want = expected(text);
      expect(scanner.lines).toBe(want.lines);
      expect(scanner.bytes).toBe(bytes.length);
      expect(sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
      expect(head).toEqual(bytes.subarray(0, 64));
      expect(scanner.errorCount).toBe(want.errors.length);
      expect(scanner.firstErrors).toEqual(want.errors.slice(0, 10));
      expect(scanner.lastErrors).toEqual(want.errors.slice(10).slice(-10));
    }
  });
});
