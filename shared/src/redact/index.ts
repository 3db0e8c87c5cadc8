import { SECRET_PATTERNS, type SecretPattern } from "./patterns.ts";

export { SECRET_PATTERNS, type SecretPattern };

export interface Redaction {
  text: string;
  /** How many secrets were replaced, by pattern name. */
  counts: Record<string, number>;
}

function replacement(pattern: SecretPattern, groups: unknown[]): string {
  const kept = pattern.keepGroup !== undefined ? groups[pattern.keepGroup - 1] : undefined;
  return `${typeof kept === "string" ? kept : ""}[REDACTED:${pattern.name}]`;
}

/** Replaces every secret-shaped substring of `text` with `[REDACTED:<kind>]`. */
export function redact(text: string): Redaction {
  const counts: Record<string, number> = {};
  let out = text;
  for (const pattern of SECRET_PATTERNS) {
    pattern.pattern.lastIndex = 0;
    out = out.replace(pattern.pattern, (_match: string, ...rest: unknown[]) => {
      counts[pattern.name] = (counts[pattern.name] ?? 0) + 1;
      // rest is (group1..groupN, offset, input): the groups end where the numeric offset starts.
      const groups = rest.slice(
        0,
        rest.findIndex((arg) => typeof arg === "number"),
      );
      return replacement(pattern, groups);
    });
  }
  return { text: out, counts };
}

export function redactText(text: string): string {
  return redact(text).text;
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
