/**
 * The per-byte work of the exec guard, kept cheap because it runs over every byte of output:
 * newline counting sixteen bytes at a time (WebAssembly SIMD), and a search for error-looking lines.
 */

/**
 * `count(ptr, len)`: the number of `\n` bytes in memory[ptr, ptr + len). Hand-assembled; the text
 * form beside each line. Per 16 bytes: one load, one compare, one subtract (a match compares to -1,
 * so subtracting it adds 1 to that byte lane). After at most 255 rounds a lane could overflow, so
 * the lanes are widened and added into four 32-bit totals. The last len % 16 bytes go one by one.
 * Locals: 0 ptr, 1 len, 2 end16, 3 blockEnd, 4 count, 5 end, 6 acc (v128), 7 total (v128), 8 nl (v128).
 */
// biome-ignore format: one instruction per line
const COUNT_BODY = [
  0x02, 0x04, 0x7f, 0x03, 0x7b,             // locals: 4 x i32, 3 x v128
  0x41, 0x0a, 0xfd, 0x0f, 0x21, 0x08,       // nl = i8x16.splat(10)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x05, // end = ptr + len
  0x20, 0x00, 0x20, 0x01, 0x41, 0x70, 0x71, 0x6a, 0x21, 0x02, // end16 = ptr + (len & -16)
  0x02, 0x40,                               // block $done
  0x03, 0x40,                               //   loop $outer
  0x20, 0x00, 0x20, 0x02, 0x4f, 0x0d, 0x01, //     br_if $done (ptr >= end16)
  0x20, 0x00, 0x41, 0xf0, 0x1f, 0x6a, 0x22, 0x03, // blockEnd = ptr + 255 * 16
  0x20, 0x02, 0x20, 0x03, 0x20, 0x02, 0x49, 0x1b, 0x21, 0x03, // blockEnd = min(blockEnd, end16)
  0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x21, 0x06, // acc = v128.const 0
  0x03, 0x40,                               //     loop $inner
  0x20, 0x06,                               //       acc
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00,       //       v128.load ptr
  0x20, 0x08, 0xfd, 0x23,                   //       i8x16.eq nl
  0xfd, 0x71, 0x21, 0x06,                   //       acc = i8x16.sub acc, eq
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x22, 0x00, //       ptr += 16
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
 * Its memory is two 64 KiB pages: one lent to a reader (scanWindow), one to copy other buffers into.
 * 64 KiB reads also keep the scanner's strings in V8's young generation: memory stays flat.
 */
const PAGE = 64 * 1024;

// biome-ignore format: one section per line
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,       // \0asm, version 1
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type 0: (i32, i32) -> i32
  0x03, 0x02, 0x01, 0x00,                               // func 0: type 0
  0x05, 0x03, 0x01, 0x00, 0x02,                         // memory: 2 pages, fixed
  0x07, 0x12, 0x02,                                     // exports: "memory", "count"
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
  0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x00, 0x00,
  0x0a, ...leb128(COUNT_BODY.length + leb128(COUNT_BODY.length).length + 1), 0x01,
  ...leb128(COUNT_BODY.length), ...COUNT_BODY,
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
};
// The memory never grows, so these views stay valid.
const lent = Buffer.from(wasm.memory.buffer, 0, PAGE);
const scratch = Buffer.from(wasm.memory.buffer, PAGE, PAGE);

/**
 * A buffer in the counter's own memory: bytes read into it are counted where they lie, without a
 * copy. Shared by every caller, so whoever reads into it must be done with it before the next
 * await (the exec guard scans each chunk synchronously, right after reading it).
 */
export function scanWindow(): Buffer {
  return lent;
}

/** Counts `\n` in buf[from, to). */
export function countNewlines(buf: Buffer, from = 0, to = buf.length): number {
  if (buf.buffer === wasm.memory.buffer) return wasm.count(buf.byteOffset + from, to - from);
  let count = 0;
  for (let at = from; at < to; at += PAGE) {
    const end = Math.min(to, at + PAGE);
    scratch.set(buf.subarray(at, end));
    count += wasm.count(PAGE, end - at);
  }
  return count;
}

/** Words that make a line worth showing from the middle of a long output. */
export const ERROR_LINE =
  /error|fail|fatal|panic|exception|traceback|denied|segfault|killed|cannot|unable to|not found|abort/gi;
