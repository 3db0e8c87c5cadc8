// Which tokenizer family a model belongs to, by its name alone. The provider's `api` is no hint: it says
// how a request is framed, not how its text is tokenized (OpenAI-compatible endpoints also serve Llama,
// Qwen, DeepSeek).

/** Model families whose tokenizers count differently. */
export const FAMILIES = [
  "openai",
  "claude",
  "gemini",
  "llama",
  "llama2",
  "qwen",
  "deepseek",
  "mistral",
  "glm",
  "kimi",
  "minimax",
  "unknown",
] as const;
export type Family = (typeof FAMILIES)[number];

/**
 * What a `tokenizer:` setting may name: a family (its usual tokenizer), one of OpenAI's encodings, or
 * "claude-4.7" (Claude Opus 4.7 and later count English and code up to 1.35-1.47x higher).
 */
export const TOKENIZER_CHOICES = [...FAMILIES, "o200k_base", "cl100k_base", "claude-4.7"] as const;
export type TokenizerChoice = (typeof TOKENIZER_CHOICES)[number];

/**
 * The model's own name without routing: "openrouter/qwen/qwen3-235b-a22b" -> "qwen3-235b-a22b",
 * "accounts/fireworks/models/deepseek-v3" -> "deepseek-v3", "bedrock/us.anthropic.claude-..." ->
 * "claude-...", "ollama/llama3.1:8b" -> "llama3.1:8b". The vendor segments before it are kept apart:
 * "meta-llama/Llama-3.3-70B" names its family only there.
 */
function parts(model: string): { name: string; path: string } {
  const lower = model.trim().toLowerCase();
  let name = lower.slice(lower.lastIndexOf("/") + 1);
  // Bedrock and Vertex prefixes: "us.anthropic.claude-...", "anthropic.claude-...", "meta.llama3-...".
  name = name.replace(/^(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|deepseek|qwen|google|amazon)\./, "");
  return { name, path: lower };
}

// OpenAI's current families use o200k_base (tiktoken's model table; gpt-tokenizer's model list agrees).
const O200K =
  /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|codex-mini|gpt-oss|omni-moderation)(?![a-z])/;
// The families before them used cl100k_base.
const CL100K = /^(gpt-4(?![a-z0-9.])|gpt-4-|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/;
// Something OpenAI-shaped that the tables above don't know, e.g. a future "gpt-6" or "o5".
const OPENAI_LIKE = /^(gpt-\d|o\d(?![a-z])|chatgpt-)/;

/** Families by a word in the model's own name, then by a vendor segment of its path. */
const BY_NAME: [RegExp, Family][] = [
  [/claude/, "claude"],
  [/gemini|gemma/, "gemini"],
  [/llama/, "llama"],
  [/qwen|qwq/, "qwen"],
  [/deepseek/, "deepseek"],
  [/mistral|mixtral|magistral|codestral|devstral|ministral|pixtral|voxtral/, "mistral"],
  [/^(chat)?glm|zhipu/, "glm"],
  [/kimi|moonshot/, "kimi"],
  [/minimax|abab/, "minimax"],
];
const BY_VENDOR: [RegExp, Family][] = [
  [/(^|\/)(anthropic)\//, "claude"],
  [/(^|\/)(google)\//, "gemini"],
  [/(^|\/)(meta-llama|meta)\//, "llama"],
  [/(^|\/)(qwen|alibaba)\//, "qwen"],
  [/(^|\/)(deepseek-ai|deepseek)\//, "deepseek"],
  [/(^|\/)(mistralai)\//, "mistral"],
  [/(^|\/)(zai-org|thudm|z-ai)\//, "glm"],
  [/(^|\/)(moonshotai)\//, "kimi"],
  [/(^|\/)(minimaxai)\//, "minimax"],
];

/** The OpenAI encoding a model uses, with `exact: false` when only its name's shape suggests it. */
export function openAiEncoding(
  model: string,
): { encoding: "o200k_base" | "cl100k_base"; exact: boolean } | undefined {
  const { name } = parts(model);
  if (O200K.test(name)) return { encoding: "o200k_base", exact: true };
  if (CL100K.test(name)) return { encoding: "cl100k_base", exact: true };
  if (OPENAI_LIKE.test(name)) return { encoding: "o200k_base", exact: false };
  return undefined;
}

/**
 * DeepSeek R1's distilled models keep their base model's tokenizer: Ollama names them by size only
 * ("deepseek-r1:14b" is Qwen 2.5 14B, "deepseek-r1:70b" Llama 3.3 70B), others spell the base out
 * ("DeepSeek-R1-Distill-Qwen-32B", caught by the name table).
 */
const R1_DISTILL: [RegExp, Family][] = [
  [/^deepseek-r1[:-](1\.5|7|14|32)b/, "qwen"],
  [/^deepseek-r1[:-](8|70)b/, "llama"],
];

/**
 * Models named like a family whose vocabulary they do not share: Llama 1/2, Code Llama and TinyLlama
 * use a 32 000-piece SentencePiece vocabulary (digits split, CJK mostly bytes), not Llama 3's; Llama 4
 * has a vocabulary of its own; DeepSeek's first models and V2 (Coder, LLM, Math, MoE, VL) predate V3's.
 * Llama 2's gets a profile of its own; the others are unknown (none is published on npm to fit to).
 */
const OLDER: [RegExp, Family][] = [
  [/code-?llama|tiny-?llama|llama-?v?[12](?![0-9.])|^llama-(7|13|30|33|65)b/, "llama2"],
  [/llama-?4(?![0-9.])/, "unknown"],
  [/^deepseek-(coder|llm|math|moe|vl|v2)/, "unknown"],
];

/** The family of `model` as named in a request ("gpt-4.1", "openrouter/qwen/qwen3-235b-a22b", ...). */
export function familyOf(model: string): Family {
  if (openAiEncoding(model) !== undefined) return "openai";
  const { name, path } = parts(model);
  for (const [pattern, family] of R1_DISTILL) if (pattern.test(name)) return family;
  for (const [pattern, family] of OLDER) if (pattern.test(name)) return family;
  for (const [pattern, family] of BY_NAME) if (pattern.test(name)) return family;
  for (const [pattern, family] of BY_VENDOR) if (pattern.test(path)) return family;
  return "unknown";
}

/** Claude's version from names like claude-opus-4-7, claude-sonnet-4-20250514, claude-3-5-sonnet-20241022. */
export function claudeVersion(model: string): number | undefined {
  const { name } = parts(model);
  const at = name.indexOf("claude");
  if (at < 0) return undefined;
  // The first 1-2 digit number is the major version; an optional second one (not an 8-digit date) the minor.
  const match = /(?<![0-9])(\d{1,2})(?:[-.](\d{1,2}))?(?![0-9])/.exec(name.slice(at));
  if (match === null) return undefined;
  return Number(match[1]) + (match[2] === undefined ? 0 : Number(match[2]) / 10);
}
