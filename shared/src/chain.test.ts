import { describe, expect, it } from "vitest";
import { canonicalJson, EMPTY_HEAD, GENESIS_HASH, hashEvent, sealEvent } from "./chain.ts";
import { draftEvent, validateEvent } from "./events/envelope.ts";
import { ulid, ulidTime } from "./ids.ts";

const source = { agent: "sub1", role: "sub-agent", host: "h1" };

describe("canonicalJson", () => {
  it("sorts keys at every level and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
  it("is the same for the same value built in a different order", () => {
    expect(canonicalJson({ x: "é\n", y: null, z: 1.5 })).toBe(
      canonicalJson(JSON.parse('{"z":1.5,"y":null,"x":"é\\n"}')),
    );
  });
});

describe("sealEvent", () => {
  it("chains events: seq from 1, prev_hash links, hash covers the content", () => {
    const first = sealEvent(draftEvent({ source, type: "exec.completed" }), EMPTY_HEAD);
    const second = sealEvent(draftEvent({ source, type: "exec.completed" }), {
      seq: first.seq,
      hash: first.hash,
    });
    expect(first.seq).toBe(1);
    expect(first.prev_hash).toBe(GENESIS_HASH);
    expect(second.seq).toBe(2);
    expect(second.prev_hash).toBe(first.hash);
    expect(hashEvent(second)).toBe(second.hash);
    expect(validateEvent(second).ok).toBe(true);
    expect(hashEvent({ ...second, attrs: { tampered: true } })).not.toBe(second.hash);
  });
});

describe("ulid", () => {
  it("is strictly increasing within one millisecond and encodes the time", () => {
    const now = Date.now();
    const ids = Array.from({ length: 1000 }, () => ulid(now));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
    expect(ulidTime(ids[0] as string)).toBe(now);
  });
});
