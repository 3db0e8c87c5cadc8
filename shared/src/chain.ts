import { createHmac, createSecretKey, hash as digest, type KeyObject, timingSafeEqual } from "node:crypto";
import type { AuditEvent, ChainedFields, Seal } from "./events/envelope.ts";

/** `prev_hash` of the first event of every source. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * JSON with object keys sorted at every level: the one byte form an event is hashed in, so the
 * sidecar and the collector (or any third party) compute the same hash from the same event. It is
 * JSON.stringify's form of the value (toJSON applied, a function or undefined left out of an
 * object and null in an array) with its keys sorted: the hash of a value is the hash of the JSON
 * it is stored as, which is what the collector and `audit verify` hash again.
 */
export function canonicalJson(value: unknown): string {
  // Already in canonical order (an event whose parts were built in it): JSON.stringify alone, with
  // no replacer, writes it (a replacer call per key costs more than the hash).
  if (inCanonicalOrder(value, 0)) return JSON.stringify(value) ?? "null";
  // JSON.stringify does the writing (native: faster than building strings here); the replacer hands
  // it each object with its keys in order (an object whose keys already are goes as it is). Where
  // that could differ from the canonical form, the value is written by the string builder instead:
  // JavaScript lists array-index keys ("2", "10") first and in numeric order whatever the insertion
  // order; a "__proto__" key cannot be copied as a plain one; and a toJSON's result is handed to
  // the replacer in place of the value it was called on.
  let slow = false;
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key: string, inner: unknown) {
    if (!Object.is(this[key], inner)) slow = true;
    if (inner === null || typeof inner !== "object" || Array.isArray(inner)) return inner;
    const keys = Object.keys(inner);
    let ordered = true;
    for (let i = 1; i < keys.length && ordered; i++) ordered = (keys[i - 1] as string) <= (keys[i] as string);
    if (ordered) return inner;
    const sorted: Record<string, unknown> = {};
    for (const k of keys.sort()) {
      const first = k.charCodeAt(0);
      if ((first >= 48 && first <= 57) || k === "__proto__") slow = true;
      sorted[k] = (inner as Record<string, unknown>)[k];
    }
    return sorted;
  });
  return slow ? (built(value, "") ?? "null") : (text ?? "null");
}

/** Deeper than this, the check below leaves the value to the careful path. */
const MAX_ORDER_CHECK_DEPTH = 64;

/**
 * Whether JSON.stringify alone writes `value` in the canonical form: every object's keys in sorted
 * order, and none that JavaScript would reorder (array indices) or copy specially (`__proto__`),
 * and no toJSON (a Date) on an object.
 */
function inCanonicalOrder(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== "object") return true;
  if (depth > MAX_ORDER_CHECK_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!inCanonicalOrder(value[i], depth + 1)) return false;
    return true;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.toJSON === "function") return false;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0 && (keys[i - 1] as string) >= key) return false;
    const first = key.charCodeAt(0);
    if ((first >= 48 && first <= 57) || key === "__proto__") return false;
    if (!inCanonicalOrder(record[key], depth + 1)) return false;
  }
  return true;
}

/** Number, String, Boolean and BigInt objects: JSON.stringify writes their primitive. */
const isBoxed = (value: object) =>
  value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt;

/**
 * The canonical form built string by string: JSON.stringify's, with each object's keys sorted (the
 * definition). Undefined where JSON.stringify writes nothing (a function, a symbol, undefined).
 */
function built(given: unknown, key: string): string | undefined {
  let value = given;
  const toJSON = (value as { toJSON?: unknown } | null | undefined)?.toJSON;
  if (
    typeof toJSON === "function" &&
    typeof value !== "string" &&
    typeof value !== "number" &&
    typeof value !== "boolean"
  )
    value = toJSON.call(value, key);
  if (value === null || typeof value !== "object" || isBoxed(value)) return JSON.stringify(value);
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i++) items.push(built(value[i], String(i)) ?? "null");
    return `[${items.join(",")}]`;
  }
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const k of Object.keys(record).sort()) {
    const inner = built(record[k], k);
    if (inner !== undefined) members.push(`${JSON.stringify(k)}:${inner}`);
  }
  return `{${members.join(",")}}`;
}

/** The hash of an event: sha256 over the canonical JSON of everything but `hash` and `seal`. */
export function hashEvent(event: Omit<AuditEvent, "hash"> | AuditEvent): string {
  // Its fields in sorted order (they never are as an event is built): with parts built in order
  // too, the canonical form is then a plain JSON.stringify.
  const record = event as unknown as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  // A plain object (its keys added in the same order every time, it keeps a shared shape, which
  // JSON.stringify writes on its fast path: 2-3 times faster than a prototype-less one, a
  // dictionary); with no prototype only when there is a "__proto__" key (JSON.parse makes one),
  // which must stay an own key, as a spread would keep it.
  const sorted: Record<string, unknown> = keys.includes("__proto__") ? Object.create(null) : {};
  for (const key of keys) if (key !== "hash" && key !== "seal") sorted[key] = record[key];
  return digest("sha256", canonicalJson(sorted), "hex");
}

/**
 * A sidecar's sealing key: HMAC-SHA256 over each event's hash, with a key the agent's container
 * cannot read (the sidecar's own secret). The chain alone can be rebuilt by anyone who edits the
 * spool; the seal cannot be without the key. `id` names the key so it can be rotated (the
 * collector accepts the current and the previous one).
 */
export interface SealKey {
  id: string;
  key: Buffer;
}

export const SEAL_KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
/** Shortest sealing key accepted (characters of the secret). */
export const MIN_SEAL_KEY_LENGTH = 32;
const SEAL_CONTEXT = "clawguard-seal-v1:";

/**
 * Each sealing key as a KeyObject, made once: `createHmac` given the key's bytes builds one itself
 * on every call (17.7 us an event, against 2.9 us with the KeyObject: measured, Node 24.21), and a
 * sidecar seals, and a collector checks, every event it handles. Kept per Buffer: a key's bytes are
 * read once from the secret and never changed in place.
 */
const keyObjects = new WeakMap<Buffer, KeyObject>();

function keyObjectOf(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = createSecretKey(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** The seal's MAC of an event hash: hex HMAC-SHA256 over "clawguard-seal-v1:<hash>". */
export function sealMac(key: Buffer, hash: string): string {
  return createHmac("sha256", keyObjectOf(key)).update(SEAL_CONTEXT).update(hash).digest("hex");
}

export function sealOf(key: SealKey, hash: string): Seal {
  return { kid: key.id, mac: sealMac(key.key, hash) };
}

/** Whether `seal` is the MAC of `hash` under `key` (constant time). */
export function sealMatches(key: Buffer, hash: string, seal: Seal): boolean {
  const expected = Buffer.from(sealMac(key, hash), "hex");
  const presented = Buffer.from(seal.mac, "hex");
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export const EMPTY_HEAD: ChainHead = Object.freeze({ seq: 0, hash: GENESIS_HASH });

/**
 * Seals a draft into the chain after `head`: assigns the next seq, links and hashes it, and with a
 * key, adds the seal (an HMAC of the hash).
 */
export function sealEvent<T extends Omit<AuditEvent, ChainedFields>>(
  draft: T,
  head: ChainHead,
  key?: SealKey,
): AuditEvent {
  const unsealed = { ...draft, seq: head.seq + 1, prev_hash: head.hash } as Omit<AuditEvent, "hash">;
  const hash = hashEvent(unsealed);
  return key ? { ...unsealed, hash, seal: sealOf(key, hash) } : { ...unsealed, hash };
}
