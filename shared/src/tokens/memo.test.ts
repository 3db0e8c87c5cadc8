import { describe, expect, it } from "vitest";
import { MEMO_MIN_CHARS, memoized } from "./memo.ts";

function counting() {
  const seen: string[] = [];
  const count = (text: string) => {
    seen.push(text);
    return text.length;
  };
  return { seen, count };
}

describe("memoized", () => {
  it("counts a long text once and returns the same count after", () => {
    const { seen, count } = counting();
    const memo = memoized(count);
    const text = "x".repeat(MEMO_MIN_CHARS);
    expect(memo(text)).toBe(MEMO_MIN_CHARS);
    expect(memo(`${"x".repeat(MEMO_MIN_CHARS - 1)}x`)).toBe(MEMO_MIN_CHARS); // an equal string, not the same one
    expect(seen).toHaveLength(1);
  });

  it("counts short texts every time", () => {
    const { seen, count } = counting();
    const memo = memoized(count);
    memo("short");
    memo("short");
    expect(seen).toHaveLength(2);
  });

  it("forgets the least recently used texts past its bound", () => {
    const { seen, count } = counting();
    const memo = memoized(count, 3 * MEMO_MIN_CHARS);
    const [a, b, c, d] = ["a", "b", "c", "d"].map((ch) => ch.repeat(MEMO_MIN_CHARS)) as [
      string,
      string,
      string,
      string,
    ];
    memo(a);
    memo(b);
    memo(c);
    memo(a); // a is now the most recent: b goes first
    memo(d);
    expect(seen).toEqual([a, b, c, d]);
    memo(a);
    memo(c);
    memo(d);
    expect(seen).toHaveLength(4);
    memo(b);
    expect(seen).toEqual([a, b, c, d, b]);
  });
});
