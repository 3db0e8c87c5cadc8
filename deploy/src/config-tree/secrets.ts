import { createHash } from "node:crypto";
import { isPlainObject } from "./paths.ts";

/**
 * How a credential is written in an OpenClaw config without being in it: a `${VAR}` env reference
 * (OpenClaw substitutes `[A-Z_][A-Z0-9_]*` in any string) or a SecretRef object
 * `{ source: "env" | "file" | "exec" | "store", provider?: string, id: string }`.
 */
const ENV_REF = /\$\{[A-Z_][A-Z0-9_]*\}/g;
const SECRET_SOURCES = ["env", "file", "exec", "store"];

export function isEnvRef(v: unknown): boolean {
  return typeof v === "string" && /^\$\{[A-Z_][A-Z0-9_]*\}$/.test(v);
}

export function isSecretRef(v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  const keys = Object.keys(v);
  return (
    SECRET_SOURCES.includes(v.source as string) &&
    typeof v.id === "string" &&
    v.id.length > 0 &&
    (v.provider === undefined || typeof v.provider === "string") &&
    keys.every((k) => k === "source" || k === "provider" || k === "id")
  );
}

export function isCredentialRef(v: unknown): boolean {
  return isEnvRef(v) || isSecretRef(v);
}

/** Keys whose string values are credentials: apiKey, token, botToken, OPENAI_API_KEY, password, clientSecret... */
const SECRET_KEY = /(api[_-]?key|token|secret|password|passwd|credentials?|authorization|private[_-]?key)$/i;

/** Provider key formats that are secrets wherever they appear. */
const KEY_FORMATS: [RegExp, string][] = [
  [/sk-ant-[A-Za-z0-9_-]{16,}/, "an Anthropic key (sk-ant-...)"],
  [/sk-[A-Za-z0-9_-]{16,}/, "an OpenAI-style key (sk-...)"],
  [/gh[pousr]_[A-Za-z0-9]{30,}/, "a GitHub token"],
  [/xox[abpr]-[A-Za-z0-9-]{10,}/, "a Slack token"],
  [/AKIA[0-9A-Z]{16}/, "an AWS access key"],
  [/AIza[0-9A-Za-z_-]{35}/, "a Google API key"],
];

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Why `value` (under `key`) is a secret written inline, or undefined when it is not one. */
export function inlineSecret(key: string, value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const literal = value.replace(ENV_REF, "");
  for (const [re, what] of KEY_FORMATS) if (re.test(literal)) return `looks like ${what}`;
  if (isSecretKey(key) && literal.trim() !== "") {
    return looksRandom(literal) ? "looks like a key (a long random string)" : "a literal credential";
  }
  return undefined;
}

function looksRandom(s: string): boolean {
  if (s.length < 20 || !/^[A-Za-z0-9_\-+/=.:]+$/.test(s) || !/[0-9]/.test(s) || !/[A-Za-z]/.test(s))
    return false;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / s.length) * Math.log2(n / s.length);
  return bits >= 3.5;
}

/** `value` with every inline secret replaced by its length and a short fingerprint (to tell two apart). */
export function maskSecrets(value: unknown, key = ""): unknown {
  if (typeof value === "string") {
    if (!inlineSecret(key, value)) return value;
    const fp = createHash("sha256").update(value).digest("hex").slice(0, 8);
    return `<secret: ${value.length} chars, sha256 ${fp}>`;
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, key));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  }
  return value;
}
