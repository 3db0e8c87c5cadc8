/** Seeded randomness and the checksums issuers put in their tokens. */

// The same seed makes the same corpus.
export { seededRandom } from "../../testing.ts";

export const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const LOWER = "abcdefghijklmnopqrstuvwxyz";
export const DIGITS = "0123456789";
export const ALNUM = UPPER + LOWER + DIGITS;
export const HEX = "0123456789abcdef";
export const B64 = `${ALNUM}+/`;
export const B64URL = `${ALNUM}-_`;
export const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Base62 of a 32-bit number, left-padded to 6 characters (GitHub's and npm's token checksum). */
export function base62Checksum(n: number): string {
  const digits = `${DIGITS}${UPPER}${LOWER}`;
  let out = "";
  let v = n;
  while (v > 0) {
    out = digits[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out.padStart(6, "0");
}

/** Random choices for the corpus: characters, words, passwords, hosts. */
export class Gen {
  readonly next: () => number;
  constructor(next: () => number) {
    this.next = next;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  str(alphabet: string, length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
  word(): string {
    return this.pick(["alice", "deploy", "svc_app", "admin", "ci-bot", "reporting", "backup", "grafana"]);
  }
  /** A password as a password manager makes one. */
  password(): string {
    return this.str(`${ALNUM}!#%^*_-.~`, 12 + this.int(14)) + this.pick(DIGITS.split(""));
  }
  host(): string {
    return this.pick([
      "db.internal.example.com",
      "10.20.3.4",
      "prod-cache.abc123.ng.0001.use1.cache.amazonaws.com",
      "cluster0.x1y2z.mongodb.net",
      "rabbit.svc.cluster.local",
      "localhost",
    ]);
  }
}
