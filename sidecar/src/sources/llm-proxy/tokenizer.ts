import {
  fastTokenizerFor,
  tokenizerFor as modelTokenizer,
  type Tokenizer,
  type TokenizerChoice,
} from "@clawguard/shared/tokens";
import { modelLimitsOf, type Provider } from "./providers.ts";

/**
 * Above this request size the guard counts with the family's fast estimate instead of an exact BPE.
 * Up to it, exact: requests from 256 KiB on are counted in the guard's worker thread (guard-pool.ts),
 * so a first count at a few MB/s delays that call, never the sidecar's other work, and each later
 * turn counts only what is new (shared/src/tokens/memo.ts). 16 MiB is ~4 M tokens, over every
 * model's window: there the estimate only has to say "over", which it does whatever the content.
 */
export const EXACT_COUNT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * How the guard counts a request for `model` of `requestBytes`; `override` is the model's or its
 * provider's `tokenizer:` setting, which wins over the model's name.
 */
export function tokenizerFor(model: string, requestBytes: number, override?: TokenizerChoice): Tokenizer {
  const tokenizer = modelTokenizer(model, override);
  if (tokenizer.exact && requestBytes > EXACT_COUNT_MAX_BYTES) return fastTokenizerFor(tokenizer);
  return tokenizer;
}

/**
 * The family's estimate for `model` (itself when the model counts by estimate): the guard counts with
 * it first, and counts exactly only when its error bound leaves the answer open.
 */
export function estimateFor(model: string, override?: TokenizerChoice): Tokenizer {
  return fastTokenizerFor(modelTokenizer(model, override));
}

/** The `tokenizer:` setting for `model` on `provider`: the model's own, else its provider's. */
export function tokenizerSetting(provider: Provider, model: string): TokenizerChoice | undefined {
  return modelLimitsOf(provider, model)?.tokenizer ?? provider.tokenizer;
}
