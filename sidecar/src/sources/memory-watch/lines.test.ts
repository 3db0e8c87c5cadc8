import { seededRandom } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { diffLines, lineHashes } from "./watcher.ts";

/** Lines added and removed the obvious way: multisets of the lines themselves. */
function naive(before: string, after: string): { added: number; removed: number } {
  const counts = (text: string) => {
    const m = new Map<string, number>();
    if (text !== "") for (const line of text.split("\n")) m.set(line, (m.get(line) ?? 0) + 1);
    return m;
  };
  const [b, a] = [counts(before), counts(after)];
  let added = 0;
  let removed = 0;
  for (const [line, n] of a) added += Math.max(0, n - (b.get(line) ?? 0));
  for (const [line, n] of b) removed += Math.max(0, n - (a.get(line) ?? 0));
  return { added, removed };
}

describe("lineHashes and diffLines", () => {
  it("count lines added and removed as multisets of the lines do", () => {
    const random = seededRandom(5);
    const pool = ["", "- a note", "- a note ", "# 2026-12-07", "ünïcödé 🦀", "x".repeat(300), "- b", "\r"];
    const text = () =>
      Array.from({ length: Math.floor(random() * 12) }, () => pool[Math.floor(random() * pool.length)]).join(
        "\n",
      );
    for (let round = 0; round < 3000; round++) {
      const [before, after] = [text(), text()];
      expect(diffLines(lineHashes(before), lineHashes(after)), `${before} -> ${after}`).toEqual(
        naive(before, after),
      );
    }
  });

  it("keeps 8 bytes a line, and tells apart many distinct lines", () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `- note ${i} ${"y".repeat(i % 50)}`);
    const hashes = lineHashes(lines.join("\n"));
    expect(hashes.byteLength).toBe(8 * 100_000);
    expect(new Set(hashes).size).toBe(100_000);
    expect(lineHashes("")).toHaveLength(0);
    expect(lineHashes("a\n")).toHaveLength(2); // "a" and the empty line after the last newline
  });
});
