import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  EMPTY_HEAD,
  GENESIS_HASH,
  hashEvent,
  sealEvent,
  sealMac,
  sealMatches,
} from "./chain.ts";
import { draftEvent, validateEvent } from "./events/envelope.ts";
import { ulid, ulidTime } from "./ids.ts";
import { seededRandom } from "./testing.ts";

/**
 * The canonical form, the spec the fast one must match: what JSON.parse makes of the value's JSON
 * (toJSON applied, functions and undefined gone), written with every object's keys sorted.
 */
function reference(given: unknown): string {
  const text = JSON.stringify(given);
  return text === undefined ? "null" : sortedJson(JSON.parse(text));
}

function sortedJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(record[k])}`).join(",")}}`;
}

/**
 * Random values: odd keys (__proto__, escapes, unicode, numbers), and what is not JSON but may be
 * in a draft built in code: undefined, NaN, functions, symbols, holes, Dates, boxed numbers, toJSON.
 */
function randomValue(random: () => number, depth = 0): unknown {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)] as T;
  const r = random();
  if (depth > 3 || r < 0.4) {
    return pick<unknown>([
      null,
      true,
      false,
      0,
      -0,
      1.5,
      -2e21,
      42,
      "",
      'é\n"\\\u0000',
      "👍 ok",
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      () => 1,
      Symbol("s"),
      new Date(random() * 1e12),
      new Number(7),
      { toJSON: () => ({ b: 1, a: [2] }) },
    ]);
  }
  if (r < 0.6) {
    const array = Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    if (random() < 0.2) array[array.length + 1] = 1; // a hole before it
    return array;
  }
  const keys = ["b", "a", "__proto__", "10", "2", "é", "A", "key with space", 'q"uote', "z"];
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(random() * 5); i > 0; i--) {
    Object.defineProperty(out, pick(keys), {
      value: randomValue(random, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const source = { agent: "sub1", role: "sub-agent", host: "h1" };

describe("canonicalJson", () => {
  it("sorts keys at every level and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
  it("matches the reference form on random values: the same as of the JSON they are stored as", () => {
    const random = seededRandom(20_261_126);
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(random);
      expect(canonicalJson(value)).toBe(reference(value));
      const text = JSON.stringify(value);
      if (text !== undefined) expect(canonicalJson(JSON.parse(text))).toBe(canonicalJson(value));
    }
    // What a draft built in code may hold: written as its JSON is (a Date as its ISO time).
    const n: unknown[] = [new Date(1)]; // a hole at 1
    n[2] = undefined;
    n[3] = Number.NaN;
    const odd = { at: new Date(0), f: () => 1, n, s: Symbol("x") };
    expect(canonicalJson(odd)).toBe(
      '{"at":"1970-01-01T00:00:00.000Z","n":["1970-01-01T00:00:00.001Z",null,null,null]}',
    );
    expect(canonicalJson({ a: Object.assign([1], { toJSON: () => "t" }), z: { b: 1, a: 2 } })).toBe(
      '{"a":"t","z":{"a":2,"b":1}}',
    );
    // A "__proto__" key from JSON.parse is an own key like any other.
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}');
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
  it("hashes the canonical form whatever the order the event and its parts were built in", () => {
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    const random = seededRandom(20_261_207);
    for (let i = 0; i < 500; i++) {
      const attrs = randomValue(random) as Record<string, unknown>;
      const event = sealEvent(draftEvent({ source, type: "llm.request", attrs: { x: attrs } }), EMPTY_HEAD);
      const { hash, ...unhashed } = event;
      expect(hash).toBe(sha(reference(unhashed)));
      // Parsed back, in any order (a "__proto__" key among them stays an own key).
      const parsed = JSON.parse(`{"__proto__":1,${JSON.stringify(unhashed).slice(1)}`);
      expect(hashEvent(parsed)).toBe(sha(reference(parsed)));
    }
  });
});

describe("sealEvent on a draft built in code", () => {
  it("hashes what the event is stored as: its JSON, parsed again, has the same hash", () => {
    const random = seededRandom(20_261_208);
    let head = EMPTY_HEAD;
    for (let i = 0; i < 500; i++) {
      const attrs = { [`k${i % 7}`]: randomValue(random), z: randomValue(random), a: randomValue(random) };
      const event = sealEvent(draftEvent({ source, type: "test.odd", attrs }), head);
      head = event;
      const stored = JSON.parse(JSON.stringify(event));
      expect(hashEvent(stored)).toBe(event.hash);
    }
  });
});

describe("sealMac", () => {
  // HMAC-SHA256 written out from its definition (RFC 2104), beside the one Node makes from a key object.
  const hmac = (key: Buffer, text: string) => {
    const block = Buffer.alloc(64);
    (key.length > 64 ? createHash("sha256").update(key).digest() : key).copy(block);
    const pad = (byte: number) => Buffer.from(block.map((b) => b ^ byte));
    const inner = createHash("sha256").update(pad(0x36)).update(text).digest();
    return createHash("sha256").update(pad(0x5c)).update(inner).digest("hex");
  };

  it("is HMAC-SHA256 over the context and the hash, for keys of any length, each key its own", () => {
    const random = seededRandom(20_261_207);
    const hash = "ab".repeat(32);
    for (const length of [32, 63, 64, 65, 200]) {
      const key = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
      // Twice: the second is made with the key object kept from the first.
      expect(sealMac(key, hash)).toBe(hmac(key, `clawguard-seal-v1:${hash}`));
      expect(sealMac(key, hash)).toBe(hmac(key, `clawguard-seal-v1:${hash}`));
      // Another key of the same bytes but one gives another MAC (no key object shared between them).
      const other = Buffer.from(key);
      other[0] = (other[0] as number) ^ 1;
      expect(sealMac(other, hash)).toBe(hmac(other, `clawguard-seal-v1:${hash}`));
      expect(sealMac(other, hash)).not.toBe(sealMac(key, hash));
      expect(sealMatches(key, hash, { kid: "k", mac: sealMac(key, hash) })).toBe(true);
      expect(sealMatches(other, hash, { kid: "k", mac: sealMac(key, hash) })).toBe(false);
    }
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

  it("draws fresh random bits for every new millisecond, across refills of its random pool", () => {
    const now = Date.now();
    // 2000 milliseconds: five refills of the 4 KiB pool at 10 bytes an id.
    const ids = Array.from({ length: 2000 }, (_, i) => ulid(now + 1 + i));
    expect(new Set(ids.map((id) => id.slice(10))).size).toBe(2000);
    expect(ids.map(ulidTime)).toEqual(ids.map((_, i) => now + 1 + i));
  });
});
