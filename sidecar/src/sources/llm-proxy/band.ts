import { type Correction, type Counted, estimateOf, topOf } from "./calibration.ts";
import { asRecord, type Conversation } from "./family.ts";
import type { Tokenizer } from "./guard.ts";

/**
 * Where a request stands against its model's window: "fits" (even at the top of its error bound),
 * "unsure" (over only if the count is off towards the top of its bound), "over" (over even at the
 * bottom of its bound: the only case the guard refuses).
 */
export type Band = "fits" | "unsure" | "over";

/** How far from 1 an exact counter's calibrated ratio may be and its provider still count as it does. */
const SAME_TOKENIZER = 0.1;
const DIGITS = "8301947265".repeat(30);
const digitCosts = new Map<string, number>();

/** What a digit costs `counter` (o200k: about a third of a token; Qwen, and the unknown estimate: one). */
function digitCost(counter: Tokenizer): number {
  let cost = digitCosts.get(counter.name);
  if (cost === undefined) {
    cost = counter.count(DIGITS) / DIGITS.length;
    digitCosts.set(counter.name, cost);
  }
  return cost;
}

/**
 * `c` with the digits' own error: a ratio learnt on prose says nothing of digits, which some
 * tokenizers group by three (o200k, Llama 3, DeepSeek) and others count one by one (Qwen, Gemma).
 * No tokenizer counts an ASCII digit as more than one token, so when the provider may not be the
 * counter's (an estimate for a name in no table, or an exact counter whose calibrated ratio says
 * its provider counts otherwise), the top of the count's error allows a token per digit and one
 * per number. Within SAME_TOKENIZER of 1, an exact counter is the provider's own, digits and all.
 */
export function withDigits(c: Correction, counter: Tokenizer, text: string): Correction {
  const foreign = counter.exact
    ? c.from !== "none" && Math.abs(c.ratio - 1) > SAME_TOKENIZER
    : counter.name === "estimate:unknown" || c.from !== "none";
  if (!foreign) return c;
  const perDigit = c.ratio * digitCost(counter);
  if (perDigit >= 1) return c;
  let digits = 0;
  let numbers = 0;
  let inNumber = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    const digit = ch >= 48 && ch <= 57;
    if (digit) digits++;
    if (digit && !inNumber) numbers++;
    inNumber = digit;
  }
  // A token per digit, and one per number for what follows it (`seq` output: "123\n" is four tokens
  // to Qwen), less what the corrected count gives the digits already.
  return digits === 0 ? c : { ...c, digitError: Math.ceil(digits * (1 - perDigit) + numbers) };
}

/**
 * The most an estimate was measured to overcount a kind of content (the unknown estimate, 9-digit
 * numbers against o200k: 2.4x, 2.8x before its refit). Its bound holds below the real count only.
 */
export const ESTIMATE_MAX_OVER = 3;

/** Over even if the estimate counted ESTIMATE_MAX_OVER times too many: then it is sure. */
export function surelyOver(raw: number, room: number, correction: Correction): boolean {
  return bandOf(raw / ESTIMATE_MAX_OVER, room, correction) === "over";
}

/** Where `raw` counted tokens stand against `room`, given the correction and its error. */
export function bandOf(raw: number, room: number, correction: Correction): Band {
  const { estimate, error } = estimateOf(raw, correction);
  if (topOf(raw, correction) <= room) return "fits";
  if (estimate - error > room) return "over";
  return "unsure";
}

/**
 * A conversation's raw count: whole, and its stable prefix for calibration (what is outside the
 * conversation array, system prompt and tools, and its leading system/developer messages).
 */
export function countedOf(conversation: Conversation): Counted {
  let prefix = conversation.fixedTokens - (conversation.unprefixed ?? 0);
  let total = conversation.fixedTokens;
  let leading = true;
  for (const item of conversation.items) {
    total += item.tokens;
    const role = asRecord(item.value)?.role;
    leading &&= role === "system" || role === "developer";
    if (leading) prefix += item.tokens;
  }
  return { prefix, total };
}
