/**
 * The per-byte work of the exec guard, kept cheap because it runs over every byte of output:
 * newline counting four bytes at a time (SWAR), and a search for error-looking lines.
 */

const NL = 0x0a0a0a0a;

/** Counts `\n` in buf[from, to). Fast path over 32-bit words when buf is 4-byte aligned. */
export function countNewlines(buf: Buffer, from = 0, to = buf.length): number {
  let count = 0;
  let i = from;
  const aligned = (buf.byteOffset + i) % 4 === 0 ? i : i + (4 - ((buf.byteOffset + i) % 4));
  for (; i < aligned && i < to; i++) if (buf[i] === 10) count++;
  const words = Math.floor((to - i) / 4);
  if (words > 0) {
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) {
      const x = (view[w] as number) ^ NL; // bytes equal to \n become 0
      // High bit of each byte set iff that byte of x is zero (no carries across bytes for 0x7f masks).
      const zero = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f) >>> 0;
      if (zero !== 0) count += (Math.imul(zero >>> 7, 0x01010101) >>> 24) & 0xff;
    }
    i += words * 4;
  }
  for (; i < to; i++) if (buf[i] === 10) count++;
  return count;
}

/** Words that make a line worth showing from the middle of a long output. */
export const ERROR_LINE =
  /error|fail|fatal|panic|exception|traceback|denied|segfault|killed|cannot|unable to|not found|abort/gi;
