import { describe, expect, it } from "vitest";
import { checkJsonTree, storableValue } from "./bounds.ts";

describe("checkJsonTree", () => {
  it("names each problem by its path: keys, odd keys, indices", () => {
    const value = { a: { "odd key": ["ok", "bad\u0000"] }, b: [{ c: "\ud800" }], x: { "k\u0000": 1 } };
    expect(checkJsonTree(value, "event.attrs")).toEqual([
      "event.attrs.x: a key contains a NUL character (\\u0000)",
      "event.attrs.b[0].c: contains a lone UTF-16 surrogate (not valid Unicode)",
      'event.attrs.a["odd key"][1]: contains a NUL character (\\u0000)',
    ]);
  });

  it("stops at the depth and node bounds, and at maxProblems", () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(checkJsonTree(deep, "event.attrs")).toEqual([
      `event.attrs${".d".repeat(32)}: nested deeper than 32 levels`,
    ]);
    expect(checkJsonTree({ n: Array.from({ length: 30 }, () => 1) }, "hb", { maxNodes: 10 })).toEqual([
      "hb: more than 10 values",
    ]);
    const bad = Array.from({ length: 9 }, () => "\u0000");
    expect(checkJsonTree(bad, "v", { maxProblems: 2 })).toHaveLength(2);
    expect(checkJsonTree({ fine: ["a", 1, null, { b: true }] }, "v")).toEqual([]);
  });
});

describe("storableValue", () => {
  it("returns the same object when nothing needs fixing, a fixed copy otherwise", () => {
    const fine = { a: "x", b: [1, "y"], c: { d: null } };
    expect(storableValue(fine)).toBe(fine);
    const fixed = storableValue({ a: "x\u0000", "k\ud800": 1, b: ["ok", "\ud800"] });
    expect(fixed).toEqual({ a: "x\ufffd", "k\ufffd": 1, b: ["ok", "\ufffd"] });
  });
});
