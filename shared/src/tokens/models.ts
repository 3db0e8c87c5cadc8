// Which counter a model gets, by its name alone. The provider's `api` is no hint: it says how a request
// is framed, not how its text is tokenized (OpenAI-compatible endpoints also serve Llama, Qwen, DeepSeek).
import type { EncodingName } from "./bpe.ts";

export type Counter =
  | { kind: "bpe"; encoding: EncodingName; exact: boolean }
  | { kind: "estimate"; profile: "wide" | "claude-3" };

/** Drops routing prefixes: "openai/gpt-4o", "azure/gpt-4.1", "us.anthropic.claude-...". */
function baseName(model: string): string {
  const lower = model.trim().toLowerCase();
  return lower.slice(lower.lastIndexOf("/") + 1);
}

// OpenAI's current families use o200k_base (tiktoken's model table; gpt-tokenizer's model list agrees).
const O200K =
  /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|codex-mini|gpt-oss|omni-moderation)(?![a-z])/;
// The families before them used cl100k_base.
const CL100K = /^(gpt-4(?![a-z0-9.])|gpt-4-|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/;
// Something OpenAI-shaped that the tables above don't know, e.g. a future "gpt-6" or "o5".
const OPENAI_LIKE = /^(gpt-\d|o\d|chatgpt-)/;

/** Claude's version from names like claude-opus-4-7, claude-sonnet-4-20250514, claude-3-5-sonnet-20241022. */
function claudeVersion(name: string): number | undefined {
  const at = name.indexOf("claude");
  if (at < 0) return undefined;
  // The first 1-2 digit number is the major version; an optional second one (not an 8-digit date) the minor.
  const match = /(?<![0-9])(\d{1,2})(?:[-.](\d{1,2}))?(?![0-9])/.exec(name.slice(at));
  if (match === null) return undefined;
  return Number(match[1]) + (match[2] === undefined ? 0 : Number(match[2]) / 10);
}

/**
 * - OpenAI models with a known encoding: exact BPE counts.
 * - OpenAI-looking names the tables don't know: o200k_base, flagged as not exact. Every OpenAI model
 *   since May 2024 uses it, so it is the best guess, but a new encoding could count differently, so the
 *   caller keeps the estimate's margin.
 * - Claude before 4.7: the estimate calibrated on the legacy Claude tokenizer ("claude-3").
 * - Claude 4.7 and later, Claude names without a version, and every other model: the "wide" estimate,
 *   which also covers the Opus 4.7 tokenizer's inflation of English and code.
 */
export function counterFor(model: string): Counter {
  const name = baseName(model);
  if (O200K.test(name)) return { kind: "bpe", encoding: "o200k_base", exact: true };
  if (CL100K.test(name)) return { kind: "bpe", encoding: "cl100k_base", exact: true };
  if (OPENAI_LIKE.test(name)) return { kind: "bpe", encoding: "o200k_base", exact: false };
  const version = claudeVersion(name);
  if (version !== undefined && version < 4.7) return { kind: "estimate", profile: "claude-3" };
  return { kind: "estimate", profile: "wide" };
}
