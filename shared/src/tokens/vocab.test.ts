import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { tempDir } from "../testing.ts";
import { Splitter } from "./bpe.ts";
import { mergeStages, parseVocab, readVocabText, vocabCounter } from "./vocab.ts";

/** A tokenizer.json with the printable ASCII bytes, a few merges and two Split stages. */
function tinyVocab(splits: string[], normalizer?: string): string {
  const vocab: Record<string, number> = {};
  for (let b = 33; b <= 126; b++) vocab[String.fromCharCode(b)] = b - 33;
  vocab.ab = 94;
  vocab.abc = 95;
  vocab["<｜special｜>"] = 96; // not byte-level: left out, as special tokens are
  return JSON.stringify({
    normalizer: normalizer === undefined ? null : { type: normalizer },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        ...splits.map((Regex) => ({ type: "Split", pattern: { Regex }, behavior: "Isolated" })),
        { type: "ByteLevel" },
      ],
    },
    model: { type: "BPE", vocab, merges: [] },
  });
}

describe("a tokenizer.json's counter", () => {
  it("counts the text between a stage's matches too, as the Rust crate's Isolated splits do", () => {
    const count = vocabCounter(parseVocab(tinyVocab(["\\p{N}{1,3}", "[a-z]+"])));
    // "ab" | "123" (no letters: a gap, 3 bytes) | "cd" (2 bytes) | "!" (a gap) = 1 + 3 + 2 + 1
    expect(count("ab123cd!")).toBe(7);
    // "abc" merges whole; digits cut in threes first: "abc" | "123" | "4" | "ab"
    expect(count("abc1234ab")).toBe(1 + 3 + 1 + 1);
  });

  it("merges stages that isolate runs of disjoint character classes, and counts alike", () => {
    expect(mergeStages(["\\p{N}{1,3}", "[一-龥぀-ゟ]+", "\\s+|\\S+"])).toEqual([
      "\\p{N}{1,3}|[一-龥぀-ゟ]+",
      "\\s+|\\S+",
    ]);
    // Classes that share a character (digits), or a pattern that is no single class: kept apart.
    expect(mergeStages(["\\p{N}{1,3}", "[a-z0-9]+"])).toEqual(["\\p{N}{1,3}", "[a-z0-9]+"]);
    expect(mergeStages(["\\p{N}{1,3}", "[a-z]+|!"])).toEqual(["\\p{N}{1,3}", "[a-z]+|!"]);
    const text = "ab123cd!x9999yz,,abc7";
    const staged = vocabCounter({ ...parseVocab(tinyVocab([])), splits: ["\\p{N}{1,3}", "[a-z]+"] });
    const merged = vocabCounter(parseVocab(tinyVocab(["\\p{N}{1,3}", "[a-z]+"])));
    expect(merged(text)).toBe(staged(text));
  });

  it("merges by rank within a piece", () => {
    const count = vocabCounter(parseVocab(tinyVocab(["[a-z]+"])));
    expect(count("abc")).toBe(1);
    expect(count("abd")).toBe(2); // "ab" + "d"
    expect(count("")).toBe(0);
  });

  it("spells the crate's case-insensitive contractions for JavaScript", () => {
    const parsed = parseVocab(tinyVocab(["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[a-z]+"]));
    expect(parsed.splits[0]).not.toContain("(?i:");
    expect(vocabCounter(parsed)("ab'S")).toBe(1 + 2);
  });

  it("counts a stage whose pattern can match nothing (an empty match) without looping", () => {
    const count = vocabCounter(parseVocab(tinyVocab(["[a-z]*"])));
    expect(count("ab12ab")).toBe(1 + 2 + 1);
  });

  it("refuses a tokenizer that is not BPE", () => {
    expect(() => parseVocab(JSON.stringify({ model: { type: "Unigram", vocab: {} } }))).toThrow(/BPE/);
  });
});

describe("a tokenizer.json on disk", () => {
  it("reads the same from the file and from its gzipped copy (what the sidecar's image carries)", () => {
    const dir = tempDir("vocab-");
    try {
      const text = tinyVocab(["[a-z]+"]);
      writeFileSync(join(dir.path, "tokenizer.json"), text);
      writeFileSync(join(dir.path, "tokenizer.json.gz"), gzipSync(text));
      expect(readVocabText(join(dir.path, "tokenizer.json.gz"))).toBe(text);
      expect(readVocabText(join(dir.path, "tokenizer.json"))).toBe(text);
    } finally {
      dir.cleanup();
    }
  });
});

describe("a split pattern's matches", () => {
  it("are matchAll's, each at its place, gaps skipped, whatever the pattern's own state", () => {
    const pattern = /[a-z]+|\d{1,3}/gu;
    pattern.lastIndex = 5; // a caller's leftover state does not matter
    const split = new Splitter(pattern);
    const text = "ab 1234-cd ";
    const found: string[] = [];
    for (let at = 0; split.next(text, at); at = split.end) found.push(text.slice(split.start, split.end));
    expect(found).toEqual([...text.matchAll(/[a-z]+|\d{1,3}/gu)].map((m) => m[0]));
    expect(found).toEqual(["ab", "123", "4", "cd"]);
  });
});
