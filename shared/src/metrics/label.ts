import { createHash } from "node:crypto";

/**
 * The longest label value /metrics writes, on the collector and on each sidecar alike: what an
 * agent or its provider names (a model, a memory file, a probe) is cut to it.
 */
export const MAX_LABEL_CHARS = 64;

/** A label value of at most 64 characters: a longer one cut, with 8 hex of its hash so that two stay two. */
export function labelValue(value: string): string {
  if (value.length <= MAX_LABEL_CHARS) return value;
  const hash = createHash("sha256").update(value).digest("hex").slice(0, 8);
  return `${value.slice(0, MAX_LABEL_CHARS - 9)}~${hash}`;
}
