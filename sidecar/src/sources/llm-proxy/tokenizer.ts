import { tokenizerFor as modelTokenizer } from "@clawguard/shared/tokens";
import { estimateTokens, WIDE } from "@clawguard/shared/tokens/estimate";
import type { Tokenizer } from "./guard.ts";

/**
 * Above this request size the guard counts with the fast estimate instead of the model's BPE:
 * exact counting runs at ~15 MB/s, so a 1M-token (4 MB) conversation would take 250+ ms on every
 * turn, against ~30 ms estimated. The "wide" estimate stays at or above o200k and cl100k counts on
 * the calibration corpus (shared/src/tokens), so a trim decided on it still fits; it trims a little
 * more than needed, and only on requests that big.
 */
export const EXACT_COUNT_MAX_BYTES = 1024 * 1024;

const FAST: Omit<Tokenizer, "margin"> = {
  name: "estimate:wide",
  exact: false,
  count: (text) => estimateTokens(text, WIDE),
};

/** How the guard counts a request for `model` of `requestBytes`. */
export function tokenizerFor(model: string, requestBytes: number): Tokenizer {
  const tokenizer = modelTokenizer(model);
  if (tokenizer.exact && requestBytes > EXACT_COUNT_MAX_BYTES) return { ...FAST, margin: tokenizer.margin };
  return tokenizer;
}
