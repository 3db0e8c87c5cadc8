import { SECRET_PATTERNS, type SecretPattern } from "./patterns.ts";

export { SECRET_PATTERNS, type SecretPattern };

export interface Redaction {
  text: string;
  /** How many secrets were replaced, by pattern name. */
  counts: Record<string, number>;
}

/** A secret found in a text: `text.slice(start, end)`, of the kind `name`. */
export interface SecretRange {
  start: number;
  end: number;
  name: string;
}

/** Whether the pattern can match at all: one of its hints (if it has any) is in the text. */
function hinted(text: string, lower: () => string, pattern: SecretPattern): boolean {
  if (pattern.hints) return pattern.hints.some((hint) => text.includes(hint));
  if (pattern.hintsLower) return pattern.hintsLower.some((hint) => lower().includes(hint));
  return true;
}

/** A letter, digit or `_`: a character inside a token. */
function tokenChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95
  );
}

/** Every match of one pattern, as the range it redacts. */
function rangesOf(text: string, pattern: SecretPattern, out: SecretRange[]): void {
  const regex = pattern.pattern;
  regex.lastIndex = 0;
  for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
    if (m[0].length === 0) {
      regex.lastIndex++;
      continue;
    }
    if (pattern.tokenStart && m.index > 0 && tokenChar(text.charCodeAt(m.index - 1))) continue;
    const kept = pattern.keepGroup !== undefined ? (m[pattern.keepGroup]?.length ?? 0) : 0;
    let start = m.index + kept;
    if (pattern.before === "token") while (start > 0 && tokenChar(text.charCodeAt(start - 1))) start--;
    else if (pattern.before) start = Math.max(0, start - pattern.before);
    const end = m.index + m[0].length;
    if (end > start && (!pattern.accept || pattern.accept(text.slice(start, end)))) {
      out.push({ start, end, name: pattern.name });
    }
  }
}

/**
 * The secrets in `text`, sorted and merged: where two patterns' matches overlap they become one
 * range (nothing of either survives) named after the earlier pattern.
 */
export function findSecrets(text: string): SecretRange[] {
  const found: SecretRange[] = [];
  let lowered: string | undefined;
  const lower = () => {
    lowered ??= text.toLowerCase();
    return lowered;
  };
  for (const pattern of SECRET_PATTERNS) {
    if (hinted(text, lower, pattern)) rangesOf(text, pattern, found);
  }
  if (found.length < 2) return found;
  // Stable: at one start, the earlier pattern's range comes first and names the merged one.
  found.sort((a, b) => a.start - b.start);
  const merged: SecretRange[] = [];
  for (const range of found) {
    const last = merged[merged.length - 1];
    if (last && range.start < last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** `text` with each range replaced by `[REDACTED:<kind>]`, counted by kind. */
export function applyRanges(text: string, ranges: readonly SecretRange[]): Redaction {
  const counts: Record<string, number> = {};
  if (ranges.length === 0) return { text, counts };
  let out = "";
  let at = 0;
  for (const { start, end, name } of ranges) {
    out += `${text.slice(at, start)}[REDACTED:${name}]`;
    counts[name] = (counts[name] ?? 0) + 1;
    at = end;
  }
  return { text: out + text.slice(at), counts };
}

/** Replaces every secret-shaped substring of `text` with `[REDACTED:<kind>]`. */
export function redact(text: string): Redaction {
  return applyRanges(text, findSecrets(text));
}

export function redactText(text: string): string {
  return redact(text).text;
}

/**
 * Redacts `text.slice(from, to)` with the whole of `text` as context: a page or a preview tail
 * that starts inside a secret (the middle of a PEM block, the end of a long token) is redacted as
 * the secret it is part of. Ranges that cross `from` or `to` are cut there.
 */
export function redactSlice(text: string, from: number, to = text.length): string {
  const inside = findSecrets(text)
    .filter((r) => r.end > from && r.start < to)
    .map((r) => ({ start: Math.max(r.start, from) - from, end: Math.min(r.end, to) - from, name: r.name }));
  return applyRanges(text.slice(from, to), inside).text;
}

const SECRET_KEY = /(token|secret|password|passwd|apikey|api_key|credential|authorization)$/i;

/** A copy of a config-like object with every secret-named value replaced, for printing. */
export function redactObject<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactObject) as T;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] =
      SECRET_KEY.test(key) && inner !== undefined && inner !== "" ? "[REDACTED]" : redactObject(inner);
  }
  return out as T;
}
