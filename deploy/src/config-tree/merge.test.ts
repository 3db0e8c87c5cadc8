import { describe, expect, it } from "vitest";
import { ConfigTreeError } from "./errors.ts";
import { mergeLayer, Origins } from "./merge.ts";

const merge = (base: Record<string, unknown>, overlay: Record<string, unknown>, origins = new Origins()) =>
  mergeLayer(base, overlay, "over.yaml", origins);

describe("mergeLayer", () => {
  it("merges objects key by key, at every depth", () => {
    expect(merge({ a: { b: 1, c: { d: 2, e: 3 } }, f: 4 }, { a: { c: { e: 30, g: 5 } } })).toEqual({
      a: { b: 1, c: { d: 2, e: 30, g: 5 } },
      f: 4,
    });
  });

  it("replaces arrays whole (no concatenation, no element merge)", () => {
    expect(merge({ l: [1, 2, 3], m: [{ id: "a", x: 1 }] }, { l: [9], m: [{ id: "a" }] })).toEqual({
      l: [9],
      m: [{ id: "a" }],
    });
    expect(merge({ l: [1, 2] }, { l: [] })).toEqual({ l: [] });
  });

  it("replaces when the types differ, and null is a value", () => {
    expect(merge({ a: { b: 1 }, c: 1, d: 2 }, { a: "flat", c: { x: 1 }, d: null })).toEqual({
      a: "flat",
      c: { x: 1 },
      d: null,
    });
  });

  it("$replace puts an object in whole, without merging", () => {
    const base = { p: { openai: { k: 1 }, anthropic: { k: 2 } } };
    expect(merge(base, { p: { $replace: { anthropic: { j: 3 } } } })).toEqual({ p: { anthropic: { j: 3 } } });
    expect(merge(base, { p: { openai: { $replace: { z: 1 } } } })).toEqual({
      p: { openai: { z: 1 }, anthropic: { k: 2 } },
    });
  });

  it("$delete removes the key; deleting a missing key changes nothing", () => {
    expect(merge({ a: { b: 1, c: 2 } }, { a: { b: { $delete: true } } })).toEqual({ a: { c: 2 } });
    expect(merge({ a: 1 }, { z: { $delete: true } })).toEqual({ a: 1 });
  });

  it("rejects a directive beside other keys, a $delete that is not true, and one with nothing to act on", () => {
    const attempt = (overlay: Record<string, unknown>) => {
      try {
        merge({ a: { b: 1 } }, overlay);
      } catch (err) {
        return err as ConfigTreeError;
      }
      throw new Error("expected an error");
    };
    const beside = attempt({ a: { $replace: {}, other: 1 } });
    expect(beside).toBeInstanceOf(ConfigTreeError);
    expect(beside).toMatchObject({ file: "over.yaml", path: "a" });
    expect(beside.message).toMatch(/only key/);
    expect(attempt({ a: { b: { $delete: "yes" } } })).toMatchObject({
      path: "a.b",
      message: /expected true/,
    });
    expect(attempt({ n: { x: { $delete: true } } })).toMatchObject({
      path: "n.x",
      message: /nothing to act on/,
    });
    expect(attempt({ a: { $replace: { x: [{ $replace: 1 }] } } })).toMatchObject({ path: "a.x[0]" });
  });

  it("neither modifies its inputs nor shares anything with them", () => {
    const base = { a: { b: [1] }, l: [{ x: 1 }] };
    const overlay = { a: { c: [2] }, d: { $replace: { e: [1] } } };
    const before = JSON.stringify([base, overlay]);
    const out = merge(base, overlay) as {
      a: { b: number[]; c: number[] };
      l: { x: number }[];
      d: { e: number[] };
    };
    expect(out).toEqual({ a: { b: [1], c: [2] }, l: [{ x: 1 }], d: { e: [1] } });
    out.a.b.push(9);
    out.a.c.push(9);
    out.l[0]!.x = 9;
    out.d.e.push(9);
    expect(JSON.stringify([base, overlay])).toBe(before);
  });

  it("keeps __proto__ an ordinary key", () => {
    const overlay = JSON.parse('{"__proto__": {"polluted": true}, "a": {"__proto__": {"x": 1}}}');
    const out = merge({}, overlay);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(["__proto__", "a"]);
  });

  it("records which file set each path, the nearest ancestor answering for what is below", () => {
    const origins = new Origins();
    let c = mergeLayer({}, { a: { b: 1, c: [1] }, d: 1 }, "base.yaml", origins);
    c = mergeLayer(c, { a: { b: 2 }, d: { $delete: true } }, "roles/x.yaml", origins);
    c = mergeLayer(c, { a: { $replace: { z: 1 } } }, "agents/y.yaml", origins);
    expect(origins.of(["a", "z"], "?")).toBe("agents/y.yaml");
    expect(origins.of(["a", "b"], "?")).toBe("agents/y.yaml");
    const o2 = new Origins();
    let c2 = mergeLayer({}, { a: { b: 1, c: [1] } }, "base.yaml", o2);
    c2 = mergeLayer(c2, { a: { b: 2 } }, "roles/x.yaml", o2);
    expect(o2.of(["a", "b"], "?")).toBe("roles/x.yaml");
    expect(o2.of(["a", "c", 0], "?")).toBe("base.yaml");
    expect(o2.of(["q"], "fallback")).toBe("fallback");
    expect(c2).toEqual({ a: { b: 2, c: [1] } });
    expect(c).toEqual({ a: { z: 1 } });
  });
});
