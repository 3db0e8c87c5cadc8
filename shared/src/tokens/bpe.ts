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

/**
 * A split pattern's matches, found without allocating: a sticky copy tries where the last match
 * ended (the patterns cover nearly every character, so that is where the next one starts), and only
 * when it fails does the global pattern search on. matchAll would clone the pattern on every call and
 * build an array per match. After next() returns true, the match is [start, end).
 */
export class Splitter {
  start = 0;
  end = 0;
  readonly #sticky: RegExp;
  readonly #global: RegExp;

  constructor(pattern: RegExp) {
    const flags = pattern.flags.replace(/[gy]/g, "");
    this.#sticky = new RegExp(pattern.source, `${flags}y`);
    this.#global = new RegExp(pattern.source, `${flags}g`);
  }

  /** The first non-empty match at or after `at` in `text`; false when there is none. */
  next(text: string, at: number): boolean {
    const sticky = this.#sticky;
    sticky.lastIndex = at;
    if (sticky.test(text) && sticky.lastIndex > at) {
      this.start = at;
      this.end = sticky.lastIndex;
      return true;
    }
    const global = this.#global;
    global.lastIndex = at;
    for (let m = global.exec(text); m !== null; m = global.exec(text)) {
      if (m[0].length > 0) {
        this.start = m.index;
        this.end = m.index + m[0].length;
        return true;
      }
      global.lastIndex = m.index + 1; // an empty match: the text is searched on past it
    }
    return false;
  }
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
    const split = new Splitter(core.tokenSplitRegex);
    // Strings like `<|endoftext|>` in a message are plain text to the provider: no special tokens.
    // Characters no alternative of the pattern takes are not counted, as the core does not.
    count = (text) => {
      let n = 0;
      for (let at = 0; split.next(text, at); at = split.end) n += piece(text.slice(split.start, split.end));
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
 * Runs of base64's alphabet (and hex, URL-safe base64) at least this long, with no space or other
 * punctuation, that look random, are counted by their letters and digits instead of merged: random
 * pieces never repeat, so the BPE core merges every one (~160 KB/s: an 800 KB base64 tool output took
 * seconds to minutes), and such runs are data, not prose, where a count a little high costs little.
 */
export const DENSE_RUN = 1024;
/**
 * Tokens per letter (or + / = _ -) of such a run: the most measured on random base64, URL-safe base64,
 * hex and letters with digits, by o200k, cl100k, Llama 3, DeepSeek V3 and Qwen 3 (0.68-0.74 a
 * character, over the letters 0.69-0.75), with a margin. A digit costs the counter's own digitCost
 * (Qwen: a token each), at least DENSE_DIGIT.
 */
const DENSE_LETTER = 0.8;
const DENSE_DIGIT = 0.6;

function isDense(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 43 ||
    c === 47 ||
    c === 61 ||
    c === 95 ||
    c === 45
  );
}

/** 0 lower case, 1 upper case, 2 digit, 3 + / = _ -. */
function denseClass(c: number): number {
  if (c >= 97 && c <= 122) return 0;
  if (c >= 65 && c <= 90) return 1;
  if (c >= 48 && c <= 57) return 2;
  return 3;
}

/**
 * Random data changes between lower case, upper case and digits at most characters (base64 ~0.64 of
 * them, hex ~0.47); words glued together, a camelCase name or `aaaa…` rarely do (under 0.36), and
 * BPE merges those well: they are counted exactly.
 */
const RANDOM_CHANGES = 0.4;

/**
 * A dense run's tokens, its letters and its digits each at their most, when it looks random; else
 * undefined (count it exactly).
 */
function denseTokens(text: string, from: number, to: number, digitCost: number): number | undefined {
  let digits = 0;
  let changes = 0;
  let last = denseClass(text.charCodeAt(from));
  for (let i = from; i < to; i++) {
    const kind = denseClass(text.charCodeAt(i));
    if (kind === 2) digits++;
    if (kind !== last) changes++;
    last = kind;
  }
  if (changes < RANDOM_CHANGES * (to - from)) return undefined;
  return Math.ceil((to - from - digits) * DENSE_LETTER + digits * Math.max(DENSE_DIGIT, digitCost));
}

/** What a digit costs `count` (Qwen 3: one token each; o200k: about a third). */
export function digitCostOf(count: (text: string) => number): number {
  const digits = "8301947265".repeat(30);
  return count(digits) / digits.length;
}

/** ASCII characters' kinds (kindOf), with DENSE_BIT set on base64's alphabet (isDense). */
const DENSE_BIT = 8;
const ASCII_KINDS = Uint8Array.from({ length: 128 }, (_, c) => kindOf(c) | (isDense(c) ? DENSE_BIT : 0));

/**
 * Whether `text` has a run that countGuarded treats apart: LONG_RUN characters of one kind (not
 * digits) or DENSE_RUN of base64's alphabet. One pass; false for almost every text.
 */
function hasLongRun(text: string): boolean {
  if (text.length < LONG_RUN) return false;
  let kindRun = 0;
  let denseRun = 0;
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const bits = c < 128 ? (ASCII_KINDS[c] as number) : kindOf(c);
    const kind = bits & 7;
    kindRun = kind === last ? kindRun + 1 : 1;
    last = kind;
    denseRun = (bits & DENSE_BIT) !== 0 ? denseRun + 1 : 0;
    if ((kindRun >= LONG_RUN && kind !== DIGIT) || denseRun >= DENSE_RUN) return true;
  }
  return false;
}

/**
 * `count(text)` for any text: dense runs (DENSE_RUN) by their letters and digits, the rest by
 * countRuns. `digitCost` is what a digit costs this counter (digitCostOf).
 */
export function countGuarded(text: string, count: (s: string) => number, digitCost = 1): number {
  if (!hasLongRun(text)) return count(text); // most texts: one quick pass decides
  let total = 0;
  let done = 0; // text before `done` is counted
  let runStart = -1;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && isDense(text.charCodeAt(i))) {
      if (runStart < 0) runStart = i;
      continue;
    }
    const dense =
      runStart >= 0 && i - runStart >= DENSE_RUN ? denseTokens(text, runStart, i, digitCost) : undefined;
    if (dense !== undefined) {
      if (runStart > done) total += countRuns(text.slice(done, runStart), count) + 1;
      total += dense + 1;
      done = i;
    }
    runStart = -1;
  }
  if (done === 0) return countRuns(text, count);
  return total + (done < text.length ? countRuns(text.slice(done), count) : 0);
}

/**
 * `count(text)` for ordinary text. Each run of LONG_RUN or more characters of one kind is cut into
 * LONG_RUN-sized pieces, counted separately, plus one token per cut: BPE rarely merges better across a
 * cut than within it, and the extra token covers that. Digits never form long pieces (they are split
 * into groups of three), so digit runs are left alone.
 */
function countRuns(text: string, count: (s: string) => number): number {
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

const digitCosts = new Map<EncodingName, number>();

export function bpeCount(name: EncodingName, text: string): number {
  const count = encoding(name);
  let digitCost = digitCosts.get(name);
  if (digitCost === undefined) {
    digitCost = digitCostOf(count);
    digitCosts.set(name, digitCost);
  }
  return countGuarded(text, count, digitCost);
}
