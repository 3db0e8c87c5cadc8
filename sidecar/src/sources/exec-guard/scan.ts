/**
 * The per-byte work of the exec guard, kept cheap because it runs over every byte of output:
 * newline counting and a prefilter for error-looking lines, sixteen bytes at a time (WebAssembly
 * SIMD), so that the regular expression sees only the few lines the prefilter lets through.
 */

/**
 * `count(ptr, len)`: the number of `\n` bytes in memory[ptr, ptr + len). Hand-assembled; the text
 * form beside each line. Per 16 bytes: one load, one compare, one subtract (a match compares to -1,
 * so subtracting it adds 1 to that byte lane); four of those a round (64 bytes), as the agent-side
 * file runs WebAssembly by the baseline compiler (Liftoff), whose per-round loop overhead a round
 * of 16 bytes paid four times (~40 ms per 200 MB, against ~10 with four). After at most 63 rounds
 * (252 per lane) a lane could overflow, so the lanes are widened and added into four 32-bit totals.
 * The last len % 64 bytes go one by one.
 * Locals: 0 ptr, 1 len, 2 end64, 3 blockEnd, 4 count, 5 end, 6 acc (v128), 7 total (v128), 8 nl (v128).
 */
// biome-ignore format: one instruction per line
const COUNT_BODY = [
  0x02, 0x04, 0x7f, 0x03, 0x7b,             // locals: 4 x i32, 3 x v128
  0x41, 0x0a, 0xfd, 0x0f, 0x21, 0x08,       // nl = i8x16.splat(10)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x05, // end = ptr + len
  0x20, 0x00, 0x20, 0x01, 0x41, 0x40, 0x71, 0x6a, 0x21, 0x02, // end64 = ptr + (len & -64)
  0x02, 0x40,                               // block $done
  0x03, 0x40,                               //   loop $outer
  0x20, 0x00, 0x20, 0x02, 0x4f, 0x0d, 0x01, //     br_if $done (ptr >= end64)
  0x20, 0x00, 0x41, 0xc0, 0x1f, 0x6a, 0x22, 0x03, // blockEnd = ptr + 63 * 64
  0x20, 0x02, 0x20, 0x03, 0x20, 0x02, 0x49, 0x1b, 0x21, 0x03, // blockEnd = min(blockEnd, end64)
  0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x21, 0x06, // acc = v128.const 0
  0x03, 0x40,                               //     loop $inner
  0x20, 0x06,                               //       acc
  ...[0, 16, 32, 48].flatMap((offset) => [
    0x20, 0x00, 0xfd, 0x00, 0x00, offset,   //       v128.load offset=offset ptr
    0x20, 0x08, 0xfd, 0x23,                 //       i8x16.eq nl
    0xfd, 0x71,                             //       i8x16.sub
  ]),
  0x21, 0x06,                               //       acc = acc - the four eq
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x22, 0x00, // ptr += 64
  0x20, 0x03, 0x49, 0x0d, 0x00,             //       br_if $inner (ptr < blockEnd)
  0x0b,                                     //     end
  0x20, 0x07, 0x20, 0x06,                   //     total, acc
  0xfd, 0x7d, 0xfd, 0x7f,                   //     i16x8 then i32x4 extadd_pairwise_u
  0xfd, 0xae, 0x01, 0x21, 0x07,             //     total = i32x4.add total, widened acc
  0x0c, 0x00,                               //     br $outer
  0x0b, 0x0b,                               //   end; end
  0x20, 0x07, 0xfd, 0x1b, 0x00,             // count = total lanes 0 + 1 + 2 + 3
  0x20, 0x07, 0xfd, 0x1b, 0x01, 0x6a,
  0x20, 0x07, 0xfd, 0x1b, 0x02, 0x6a,
  0x20, 0x07, 0xfd, 0x1b, 0x03, 0x6a, 0x21, 0x04,
  0x02, 0x40,                               // block $tail
  0x03, 0x40,                               //   loop
  0x20, 0x00, 0x20, 0x05, 0x4f, 0x0d, 0x01, //     br_if $tail (ptr >= end)
  0x20, 0x04, 0x20, 0x00, 0x2d, 0x00, 0x00, //     count += (i32.load8_u ptr) == 10
  0x41, 0x0a, 0x46, 0x6a, 0x21, 0x04,
  0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00, //     ptr += 1
  0x0c, 0x00,                               //     br loop
  0x0b, 0x0b,                               //   end; end
  0x20, 0x04, 0x0b,                         // count
];

/**
 * `find(ptr, len)`: the first position p in memory[ptr, ptr + len) where the four bytes from p are
 * one of the error words' fingerprints (FINGERPRINTS, ASCII case ignored), or -1. The Teddy
 * technique of Hyperscan: each byte's low and high nibble index two 16-byte tables (i8x16.swizzle)
 * whose lanes are bitmasks of the eight buckets a fingerprint can be in; a bucket survives only if
 * all four bytes agree. Sixteen positions per round: four loads, eight lookups
 * (i8x16.relaxed_swizzle, x86's pshufb: indices are nibbles, never past 15), seven ands. Nibbles
 * alias (a bucket of two fingerprints admits some of their mixes), so a hit is a candidate that the
 * caller checks with the regular expression. Reads up to 18 bytes past ptr + len (padding follows
 * every buffer in this memory); lanes past the end are masked off. Before that loop, a faster one
 * takes 64 positions a round and only asks whether any of them is a candidate (Liftoff, the
 * baseline compiler the agent-side file runs WebAssembly with, pays its loop overhead per round):
 * at the first round with one, or near the end, the 16-position loop goes on from that round.
 * Locals: 0 ptr, 1 len, 2 end, 3 bits, 4 lim, 5 m, 6 nib, 7..14 the tables, 15 x (v128 from 5 on).
 */
// biome-ignore format: one instruction per line
const classify = (k: number, round = 0): number[] => [
  0x20, 7 + 2 * k,                                     // table_lo[k]
  0x20, 0x00, 0xfd, 0x00, 0x00, 16 * round + k, 0x22, 0x0f, // x = v128.load offset=16*round+k ptr
  0x20, 0x06, 0xfd, 0x4e, 0xfd, 0x80, 0x02,            // relaxed_swizzle(table_lo, x & 0x0f)
  0x20, 8 + 2 * k, 0x20, 0x0f, 0x41, 0x04, 0xfd, 0x6d, // table_hi[k], x >> 4
  0xfd, 0x80, 0x02, 0xfd, 0x4e,                        // relaxed_swizzle(table_hi, x >> 4), and
];

/** Layout of the module's memory (bytes): the lent window, the scratch copy area, the tables, padding. */
const WINDOW = 128 * 1024;
const SCRATCH = 64 * 1024;
const TABLES = WINDOW + SCRATCH;
const PAGES = Math.ceil((TABLES + 8 * 16 + 32) / 65_536);

// biome-ignore format: one instruction per line
const FIND_BODY = [
  0x02, 0x03, 0x7f, 0x0b, 0x7b,             // locals: 3 x i32, 11 x v128
  0x41, 0x0f, 0xfd, 0x0f, 0x21, 0x06,       // nib = i8x16.splat(15)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x02, // end = ptr + len
  ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((i) => [
    0x41, 0x00, 0xfd, 0x00, 0x00, ...leb128(TABLES + 16 * i), 0x21, 7 + i, // table i = v128.load
  ]),
  0x02, 0x40,                               // block $slow
  0x03, 0x40,                               //   loop $fast
  0x20, 0x00, 0x41, 0xc3, 0x00, 0x6a, 0x20, 0x02, 0x4b, 0x0d, 0x01, // br_if $slow (ptr + 67 > end)
  ...[0, 1, 2, 3].flatMap((round) => [
    ...classify(0, round),                  //     classify this round's 16 positions
    ...[1, 2, 3].flatMap((k) => [...classify(k, round), 0xfd, 0x4e]),
    ...(round > 0 ? [0xfd, 0x50] : []),     //     or the rounds before
  ]),
  0xfd, 0x53, 0x0d, 0x01,                   //     br_if $slow (v128.any_true)
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // ptr += 64
  0x0c, 0x00,                               //     br $fast
  0x0b, 0x0b,                               //   end; end
  0x02, 0x40,                               // block $none
  0x03, 0x40,                               //   loop $round
  0x20, 0x00, 0x41, 0x03, 0x6a, 0x20, 0x02, 0x4f, 0x0d, 0x01, // br_if $none (ptr + 3 >= end)
  ...classify(0), 0x21, 0x05,               //     m = classify(ptr + 0)
  ...[1, 2, 3].flatMap((k) => [0x20, 0x05, ...classify(k), 0xfd, 0x4e, 0x21, 0x05]), // m &= classify(ptr + k)
  0x20, 0x05, 0xfd, 0x53, 0x04, 0x40,       //     if v128.any_true(m)
  0x20, 0x05, 0xfd, 0x0c, ...new Array<number>(16).fill(0), // m, v128.const 0
  0xfd, 0x24, 0xfd, 0x64, 0x21, 0x03,       //       bits = i8x16.bitmask(i8x16.ne(m, 0))
  0x20, 0x02, 0x41, 0x03, 0x6b, 0x20, 0x00, 0x6b, 0x22, 0x04, // lim = end - 3 - ptr
  0x41, 0x10, 0x49, 0x04, 0x40,             //       if lim < 16
  0x20, 0x03, 0x41, 0x01, 0x20, 0x04, 0x74, 0x41, 0x01, 0x6b, 0x71, 0x21, 0x03, // bits &= (1 << lim) - 1
  0x0b,                                     //       end
  0x20, 0x03, 0x04, 0x40,                   //       if bits
  0x20, 0x00, 0x20, 0x03, 0x68, 0x6a, 0x0f, //         return ptr + ctz(bits)
  0x0b,                                     //       end
  0x0b,                                     //     end
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, //     ptr += 16
  0x0c, 0x00,                               //     br $round
  0x0b, 0x0b,                               //   end; end
  0x41, 0x7f, 0x0b,                         // -1
];

const codeEntry = (body: number[]): number[] => [...leb128(body.length), ...body];
const CODE = [0x02, ...codeEntry(COUNT_BODY), ...codeEntry(FIND_BODY)];

// biome-ignore format: one section per line
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,       // \0asm, version 1
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type 0: (i32, i32) -> i32
  0x03, 0x03, 0x02, 0x00, 0x00,                         // func 0 (count), func 1 (find): type 0
  0x05, 0x03, 0x01, 0x00, PAGES,                        // memory: PAGES pages, never grown
  0x07, 0x19, 0x03,                                     // exports: "memory", "count", "find"
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
  0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x00, 0x00,
  0x04, 0x66, 0x69, 0x6e, 0x64, 0x00, 0x01,
  0x0a, ...leb128(CODE.length), ...CODE,
]);

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n === 0 ? byte : byte | 0x80);
  } while (n !== 0);
  return out;
}

/** What is used of the WebAssembly API (TypeScript declares it only in its DOM library). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
const wasm = new Instance(new Module(MODULE)).exports as {
  memory: { buffer: ArrayBuffer };
  count(ptr: number, len: number): number;
  find(ptr: number, len: number): number;
};
// The memory never grows, so these views stay valid.
const lent = Buffer.from(wasm.memory.buffer, 0, WINDOW);
const scratch = Buffer.from(wasm.memory.buffer, WINDOW, SCRATCH);

/**
 * A buffer in the scanner's own memory: bytes read into it are counted and searched where they
 * lie, without a copy. Shared by every caller, so whoever reads into it must be done with it before
 * the next await (the exec guard scans each chunk synchronously, right after reading it).
 */
export function scanWindow(): Buffer {
  return lent;
}

/**
 * Calls `each(ptr, len, at)` on buf[from, to) where it lies in the module's memory, or else on
 * copies of it in the scratch area: pieces of at most SCRATCH bytes, overlapping by `overlap`, each
 * with `at`, where in buf it starts; a piece's `each` returning a number stops the pieces after it.
 */
function inMemory(
  buf: Buffer,
  from: number,
  to: number,
  overlap: number,
  each: (ptr: number, len: number, at: number) => number | undefined,
): void {
  if (buf.buffer === wasm.memory.buffer) {
    each(buf.byteOffset + from, to - from, from);
    return;
  }
  for (let at = from; at < to; at += SCRATCH - overlap) {
    const end = Math.min(to, at + SCRATCH);
    scratch.set(buf.subarray(at, end));
    if (each(WINDOW, end - at, at) !== undefined || end === to) return;
  }
}

/** Counts `\n` in buf[from, to). */
export function countNewlines(buf: Buffer, from = 0, to = buf.length): number {
  let count = 0;
  inMemory(buf, from, to, 0, (ptr, len) => {
    count += wasm.count(ptr, len);
    return undefined;
  });
  return count;
}

/** Words that make a line worth showing from the middle of a long output. */
export const ERROR_WORDS = [
  "error",
  "fail",
  "fatal",
  "panic",
  "exception",
  "traceback",
  "denied",
  "segfault",
  "killed",
  "cannot",
  "unable to",
  "not found",
  "abort",
] as const;
export const ERROR_LINE = new RegExp(ERROR_WORDS.join("|"), "gi");

/**
 * Four bytes of each error word, in eight buckets (one bit each in find's tables). Chosen rare in
 * ordinary output, and paired so that a bucket's mixes are rare too ("fail"/"fata" admit "fatl";
 * "unab" is alone, so "enable" is not a candidate). Each word holds one; a test checks it.
 */
export const FINGERPRINTS: readonly (readonly string[])[] = [
  ["rror"],
  ["fail", "fata"],
  ["anic", "enie"],
  ["xcep"],
  ["ceba", "gfau"],
  ["kill", "nnot"],
  ["abor", "foun"],
  ["unab"],
];
/** How far into its word a fingerprint starts, at most: a match begins at most this before its fingerprint. */
export const FINGERPRINT_OFFSET = Math.max(
  ...ERROR_WORDS.map((word) => {
    const at = FINGERPRINTS.flat()
      .map((f) => word.indexOf(f))
      .filter((i) => i >= 0);
    return at.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...at);
  }),
);

/** find's tables: for byte k of a fingerprint, the buckets each low nibble and each high nibble admit. */
(function writeTables() {
  const tables = Buffer.from(wasm.memory.buffer, TABLES, 8 * 16).fill(0);
  FINGERPRINTS.forEach((bucket, b) => {
    for (const print of bucket) {
      for (let k = 0; k < 4; k++) {
        const char = print[k] as string;
        for (const byte of new Set([char.toLowerCase(), char.toUpperCase()].map((c) => c.charCodeAt(0)))) {
          tables[32 * k + (byte & 0x0f)] = (tables[32 * k + (byte & 0x0f)] as number) | (1 << b);
          tables[32 * k + 16 + (byte >> 4)] = (tables[32 * k + 16 + (byte >> 4)] as number) | (1 << b);
        }
      }
    }
  });
})();

/**
 * The first position in buf[from, to) where an error word's fingerprint starts (FINGERPRINTS), or
 * -1: every error word in that range holds one, so none starts before the first such position less
 * FINGERPRINT_OFFSET, and where there is none there is no error word. A hit may be a false one.
 */
export function findCandidate(buf: Buffer, from = 0, to = buf.length): number {
  let found = -1;
  inMemory(buf, from, to, 3, (ptr, len, at) => {
    const hit = wasm.find(ptr, len);
    if (hit === -1) return undefined;
    found = at + hit - ptr;
    return found;
  });
  return found;
}
