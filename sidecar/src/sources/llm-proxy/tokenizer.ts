import {
  fastTokenizerFor,
  tokenizerFor as modelTokenizer,
  type Tokenizer,
  type TokenizerChoice,
} from "@clawguard/shared/tokens";
import type { Provider } from "./providers.ts";

/**
 * Above this request size the guard counts with the family's fast estimate instead of an exact BPE:
 * exact counting runs at ~15 MB/s, so a 1M-token (4 MB) conversation would take 250+ ms on every
 * turn, against ~30 ms estimated. The estimate carries its own measured error bound as the margin
 * (shared/src/tokens/estimate.ts: ERROR_BOUNDS), which holds on digits, hex, base64, CJK, code and JSON
 * alike, so a trim decided on it still fits; it trims more than needed, and only on requests that big.
 */
export const EXACT_COUNT_MAX_BYTES = 1024 * 1024;

/**
 * How the guard counts a request for `model` of `requestBytes`; `override` is the model's or its
 * provider's `tokenizer:` setting, which wins over the model's name.
 */
export function tokenizerFor(model: string, requestBytes: number, override?: TokenizerChoice): Tokenizer {
  const tokenizer = modelTokenizer(model, override);
  if (tokenizer.exact && requestBytes > EXACT_COUNT_MAX_BYTES) return fastTokenizerFor(tokenizer);
  return tokenizer;
}

/** The `tokenizer:` setting for `model` on `provider`: the model's own, else its provider's. */
export function tokenizerSetting(provider: Provider, model: string): TokenizerChoice | undefined {
  return provider.models.get(model)?.tokenizer ?? provider.tokenizer;
}
