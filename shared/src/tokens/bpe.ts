// Exact counts for OpenAI's BPE encodings, via gpt-tokenizer (pure JS; matches OpenAI's tiktoken on the
// whole test corpus). An encoding's table (o200k: ~160 ms and ~70 MB RSS; cl100k: ~70 ms, ~40 MB) is
// loaded on the first count that needs it, not when this module is imported.
import { createRequire } from "node:module";

export type EncodingName = "o200k_base" | "cl100k_base";

/** What the counting needs of gpt-tokenizer's BPE core (its class is not typed for this use). */
export interface BpeCore {
  tokenSplitRegex: RegExp;
  getBpeRankFromString(piece: string): number | undefined;
  bytePairEncode(piece: string): number[];
}

const require = createRequire(import.meta.url);
const loaded = new Map<EncodingName, (text: string) => number>();

/** Pieces (words, mostly) whose counts are remembered: short ones, up to a bounded number. */
const MAX_PIECE_CHARS = 32;
const MAX_PIECES = 100_000;

/**
 * Counts one pre-split piece as the core's own count does (a rank of its own: one token; else its
 * merges), remembering short pieces: most are words seen before, and a lookup is all they cost.
 */
export function pieceCounter(core: BpeCore): (piece: string) => number {
  const known = new Map<string, number>();
  return (piece) => {
    let n = known.get(piece);
    if (n === undefined) {
      n = core.getBpeRankFromString(piece) !== undefined ? 1 : core.bytePairEncode(piece).length;
      if (piece.length <= MAX_PIECE_CHARS && known.size < MAX_PIECES) known.set(piece, n);
    }
    return n;
  };
}

function encoding(name: EncodingName): (text: string) => number {
  let count = loaded.get(name);
  if (count === undefined) {
    // require() rather than import(): it keeps count() synchronous and still defers the load.
    const { GptEncoding } = require("gpt-tokenizer/cjs/GptEncoding") as {
      GptEncoding: {
        getEncodingApi(name: string, ranks: () => unknown): { bytePairEncodingCoreProcessor: BpeCore };
      };
    };
    const api = GptEncoding.getEncodingApi(
      name,
      () => (require(`gpt-tokenizer/cjs/bpeRanks/${name}`) as { default: unknown }).default,
    );
    const core = api.bytePairEncodingCoreProcessor;
    const piece = pieceCounter(core);
    const split = core.tokenSplitRegex;
    // Strings like `<|endoftext|>` in a message are plain text to the provider: no special tokens.
    count = (text) => {
      let n = 0;
      for (const [match] of text.matchAll(split)) n += piece(match);
      return n;
    };
    loaded.set(name, count);
  }
  return count;
}

/**
 * Runs longer than this (of whitespace, of ASCII letters, of punctuation, or of non-ASCII characters)
 * are counted in pieces. BPE merging is quadratic in the length of a pre-tokenized piece, and the split
 * patterns leave such runs whole: 20 000 underscores take ~230 ms, a 1 MiB run of spaces minutes.
 */
export const LONG_RUN = 256;

const SPACE = 1;
const LETTER = 2;
const DIGIT = 3;
const PUNCT = 4;
const OTHER = 5;

function kindOf(c: number): number {
  if (c === 32 || c === 10 || c === 9 || c === 13) return SPACE;
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) return LETTER;
  if (c >= 48 && c <= 57) return DIGIT;
  if (c < 128) return PUNCT;
  // General and CJK punctuation, full-width ASCII punctuation: they end a letter run, so Chinese prose
  // (no ASCII for pages, but a comma every few characters) never looks like one long run.
  if ((c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xff00 && c <= 0xff20))
    return PUNCT;
  return OTHER;
}

/**
 * `count(text)` for ordinary text. Each run of LONG_RUN or more characters of one kind is cut into
 * LONG_RUN-sized pieces, counted separately, plus one token per cut: BPE rarely merges better across a
 * cut than within it, and the extra token covers that. Digits never form long pieces (they are split
 * into groups of three), so digit runs are left alone.
 */
export function countGuarded(text: string, count: (s: string) => number): number {
  let total = 0;
  let done = 0; // text before `done` is counted
  let runStart = 0;
  let runKind = 0;
  for (let i = 0; i <= text.length; i++) {
    const kind = i < text.length ? kindOf(text.charCodeAt(i)) : 0;
    if (kind === runKind) continue;
    if (i - runStart >= LONG_RUN && runKind !== DIGIT) {
      if (runStart > done) total += count(text.slice(done, runStart)) + 1;
      for (let at = runStart; at < i; ) {
        let end = Math.min(at + LONG_RUN, i);
        // Keep surrogate pairs whole.
        if (end < i && (text.charCodeAt(end - 1) & 0xfc00) === 0xd800) end++;
        total += count(text.slice(at, end)) + 1;
        at = end;
      }
      done = i;
    }
    runStart = i;
    runKind = kind;
  }
  if (done === 0) return count(text);
  return total + (done < text.length ? count(text.slice(done)) : 0);
}

export function bpeCount(name: EncodingName, text: string): number {
  return countGuarded(text, encoding(name));
}
