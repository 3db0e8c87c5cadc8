import { randomFillSync } from "node:crypto";

/** Crockford base32, the ULID alphabet. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

let lastTime = -1;
let lastRandom: Uint8Array = new Uint8Array(10);

/** Random bytes drawn 4 KiB at a time: one call into OpenSSL per ~400 ids (each was ~9 µs alone). */
const pool = new Uint8Array(4096);
let pooled = 0;

function random10(): Uint8Array {
  if (pooled < 10) {
    randomFillSync(pool);
    pooled = pool.length;
  }
  pooled -= 10;
  return pool.slice(pooled, pooled + 10);
}

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 9; i >= 0; i--) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits -> 16 base32 characters, 5 bits at a time.
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  return out;
}

/**
 * A monotonic ULID: sortable by creation time, and strictly increasing within one process even
 * when several are made in the same millisecond.
 */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime) {
    // Same (or earlier) millisecond: increment the random part so the order stays strict.
    const next = Uint8Array.from(lastRandom);
    for (let i = next.length - 1; i >= 0; i--) {
      if (next[i] === 255) {
        next[i] = 0;
      } else {
        next[i] = (next[i] ?? 0) + 1;
        break;
      }
    }
    lastRandom = next;
    return encodeTime(lastTime) + encodeRandom(next);
  }
  lastTime = now;
  lastRandom = random10();
  return encodeTime(now) + encodeRandom(lastRandom);
}

/** The creation time encoded in a ULID, in ms since the epoch. */
export function ulidTime(id: string): number {
  let ms = 0;
  for (const ch of id.slice(0, 10)) ms = ms * 32 + ALPHABET.indexOf(ch);
  return ms;
}
