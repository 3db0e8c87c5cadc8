// Token counting for the context guard, per model family: exact BPE counts where the model's tokenizer
// runs here fast enough (OpenAI's encodings), a family-calibrated estimate everywhere else.
import { bpeCount, type EncodingName } from "./bpe.ts";
import { ERROR_BOUNDS, estimateTokens, PROFILES, type Profile } from "./estimate.ts";
import { claudeVersion, type Family, familyOf, openAiEncoding, type TokenizerChoice } from "./family.ts";

export type { Family, TokenizerChoice } from "./family.ts";
export { FAMILIES, familyOf, TOKENIZER_CHOICES } from "./family.ts";

export interface Tokenizer {
  /** "o200k_base", "cl100k_base", or "estimate:<profile>" (openai, qwen, llama, ..., unknown). */
  readonly name: string;
  /** The model family this tokenizer counts for. */
  readonly family: Family;
  /** The model's own tokenizer (not a guess or an estimate). */
  readonly exact: boolean;
  /**
   * The measured relative error below the real count (0.02: 2%): a count can be up to
   * `count * errorBound` short of the provider's, so keep that much free.
   */
  readonly errorBound: number;
  /** The same number, under the name the context guard reads: `count * (1 + margin) <= budget`. */
  readonly margin: number;
  /** Tokens in `text`. Synchronous; the first count of an exact tokenizer loads its table (~70-160 ms). */
  count(text: string): number;
}

/**
 * Exact counts: gpt-tokenizer matched tiktoken on every corpus entry; 2% covers what a text count does
 * not see (how the provider frames messages and serializes tools).
 */
export const EXACT_ERROR_BOUND = 0.02;

/** Which estimate profile counts for a family (Claude by version). */
function profileOf(family: Family, model: string): Profile {
  switch (family) {
    case "openai":
    case "qwen":
    case "llama":
    case "deepseek":
    case "gemini":
      return family;
    case "claude": {
      const version = claudeVersion(model);
      // Claude 4.7 and later, and Claude names without a version: the inflated reference.
      return version !== undefined && version < 4.7 ? "claude" : "claude-4.7";
    }
    default:
      return "unknown";
  }
}

const cache = new Map<string, Tokenizer>();

function cached(key: string, make: () => Tokenizer): Tokenizer {
  let tokenizer = cache.get(key);
  if (tokenizer === undefined) {
    tokenizer = Object.freeze(make());
    cache.set(key, tokenizer);
  }
  return tokenizer;
}

function bpe(encoding: EncodingName, exact: boolean): Tokenizer {
  return cached(`${encoding}:${exact}`, () => {
    const bound = exact ? EXACT_ERROR_BOUND : ERROR_BOUNDS.openai;
    return {
      name: encoding,
      family: "openai",
      exact,
      errorBound: bound,
      margin: bound,
      count: (text: string) => bpeCount(encoding, text),
    };
  });
}

/** The family's estimate: no table to load, ~160 MB/s. Also the fast path for huge requests. */
export function estimateFor(family: Family, profile: Profile): Tokenizer {
  return cached(`estimate:${profile}:${family}`, () => {
    const weights = PROFILES[profile];
    return {
      name: `estimate:${profile}`,
      family,
      exact: false,
      errorBound: ERROR_BOUNDS[profile],
      margin: ERROR_BOUNDS[profile],
      count: (text: string) => estimateTokens(text, weights),
    };
  });
}

/** What an override names: a family, one of OpenAI's encodings, or "claude-4.7". */
function chosen(choice: TokenizerChoice, model: string): Tokenizer {
  if (choice === "o200k_base" || choice === "cl100k_base") return bpe(choice, true);
  if (choice === "claude-4.7") return estimateFor("claude", "claude-4.7");
  if (choice === "openai") {
    const known = openAiEncoding(model);
    return bpe(known?.encoding ?? "o200k_base", known?.exact ?? false);
  }
  return estimateFor(choice, profileOf(choice, model));
}

/**
 * The tokenizer for `model` as named in a request ("gpt-4.1", "openrouter/qwen/qwen3-235b-a22b",
 * "bedrock/us.anthropic.claude-sonnet-4-5-..."), or for `override` (a `tokenizer:` setting) when given:
 * it always wins over the name. One frozen instance per tokenizer; synchronous.
 */
export function tokenizerFor(model: string, override?: TokenizerChoice): Tokenizer {
  if (override !== undefined) return chosen(override, model);
  const family = familyOf(model);
  if (family === "openai") {
    const known = openAiEncoding(model);
    return bpe(known?.encoding ?? "o200k_base", known?.exact ?? false);
  }
  return estimateFor(family, profileOf(family, model));
}

/**
 * The estimate for the same family as `tokenizer` (itself when it is one): for requests too big to
 * count exactly. Its error bound holds on digits, hex, base64, CJK, code and JSON alike.
 */
export function fastTokenizerFor(tokenizer: Tokenizer): Tokenizer {
  if (!tokenizer.exact && tokenizer.name.startsWith("estimate:")) return tokenizer;
  return estimateFor(tokenizer.family, tokenizer.family === "openai" ? "openai" : "unknown");
}
