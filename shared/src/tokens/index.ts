// Token counting for the context guard: exact BPE counts where the model's tokenizer is public (OpenAI),
// a conservative estimate everywhere else (Claude 3+, unknown models).
import { bpeCount } from "./bpe.ts";
import { CLAUDE_3, estimateTokens, WIDE } from "./estimate.ts";
import { type Counter, counterFor } from "./models.ts";

export interface Tokenizer {
  /** "o200k_base", "cl100k_base", "estimate:wide" or "estimate:claude-3". */
  readonly name: string;
  /** The model's own tokenizer (not a guess or an estimate). */
  readonly exact: boolean;
  /** Fraction to keep free on top of counts: a request fits when `count * (1 + margin) <= budget`. */
  readonly margin: number;
  /** Tokens in `text`. Synchronous; the first call of an exact tokenizer loads its table (~70-160 ms). */
  count(text: string): number;
}

/**
 * - exact: the text's count is the provider's (gpt-tokenizer matched tiktoken on every corpus entry);
 *   2% covers what a text count does not see: how the provider frames messages and serializes tools.
 * - estimate: in 4-fold cross-validation on ~350 held-out texts (see estimate.ts), chunks of READMEs,
 *   JS, .d.ts, JSON, logs and Chinese docs were undershot 5 times in 236, by at most 14% (JS with an
 *   embedded base64 blob); lists of names in other scripts 26 times in 57, by up to 35% (Armenian).
 *   15% covers all but the rarest scripts.
 */
export const SAFETY_MARGIN = { exact: 0.02, estimate: 0.15 } as const;

function build(counter: Counter): Tokenizer {
  if (counter.kind === "bpe") {
    const { encoding, exact } = counter;
    return Object.freeze({
      name: encoding,
      exact,
      margin: exact ? SAFETY_MARGIN.exact : SAFETY_MARGIN.estimate,
      count: (text: string) => bpeCount(encoding, text),
    });
  }
  const weights = counter.profile === "wide" ? WIDE : CLAUDE_3;
  return Object.freeze({
    name: `estimate:${counter.profile}`,
    exact: false,
    margin: SAFETY_MARGIN.estimate,
    count: (text: string) => estimateTokens(text, weights),
  });
}

const cache = new Map<string, Tokenizer>();

/** The tokenizer for `model` (as named in the request: "gpt-4.1", "openai/gpt-4o", "claude-opus-4-7"). */
export function tokenizerFor(model: string): Tokenizer {
  const counter = counterFor(model);
  const key = counter.kind === "bpe" ? `${counter.encoding}:${counter.exact}` : counter.profile;
  let tokenizer = cache.get(key);
  if (tokenizer === undefined) {
    tokenizer = build(counter);
    cache.set(key, tokenizer);
  }
  return tokenizer;
}
