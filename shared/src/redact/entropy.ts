/**
 * Tests on a candidate value: is it random-looking enough to be a secret, or is it code, a
 * reference, a placeholder? They decide matches of broad patterns (values after `token=`).
 */

/** Shannon entropy in bits per character. */
export function entropy(text: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** How many of lower case, upper case, digits, other characters the text uses. */
function classes(text: string): number {
  return (
    Number(/[a-z]/.test(text)) +
    Number(/[A-Z]/.test(text)) +
    Number(/\d/.test(text)) +
    Number(/[^A-Za-z0-9]/.test(text))
  );
}

/** A machine-made token: mixes letters with digits, or cases (for shapes a word could also take). */
export function looksLikeToken(text: string): boolean {
  return /\d/.test(text) ? /[A-Za-z]/.test(text) : /[a-z]/.test(text) && /[A-Z]/.test(text);
}

/** A reference to a value kept elsewhere, or a stand-in: `${TOKEN}`, `$TOKEN`, `%s`, `{{ x }}`, `<token>`. */
export function isReference(value: string): boolean {
  return /^(?:\\?\$|%[sd]$|%\w+%$|\{\{|<|\[REDACTED|\*{3,}|x{3,}$)/i.test(value);
}

/** A stand-in written where a secret goes: `true`, `changeme`, `***`, `xxx`, `your-password`. */
export function isPlaceholder(value: string): boolean {
  return /^(?:x{3,}|\*{3,}|\.{3,}|null|none|nil|true|false|undefined|changeme|change[_-]?me|example|placeholder|redacted|required|optional|secret|password|token|your[_-].*)$/i.test(
    value.trim(),
  );
}

/** Code and references that follow a secret's name in source and config, not secrets themselves. */
const NOT_A_VALUE = [
  // member chains: req.headers.authorization, process.env.X, self._load (a password may have a dot
  // too, but then it has digits)
  /^[A-Za-z_$]+(?:(?:\.|\?\.|::|->)[A-Za-z_$]+)+$/,
  // the same, short, with digits after a segment's first letter: guard.p50, stats.v2 (`pass: guard.p50 <= 1`)
  /^(?=.{0,32}$)[a-z_$][a-z\d_$]*(?:\.[a-z_$][a-z\d_$]*)+$/,
  // references and templates: $VAR, ${VAR}, %VAR%, {{ var }}, <value>
  /^(?:\\?\$|%[sd]$|%\w+%$|\{\{|<|\[REDACTED)/,
  // identifiers: camelCase or PascalCase words (createCredentialChecks, getApiKey); a random
  // token of letters alone has capitals closer together than every third letter
  /^[a-z]*(?:[A-Z][a-z]{2,}){2,}$/,
  /^[a-z]{2,}(?:[A-Z][a-z]{2,})+$/,
  // paths
  /^(?:~|\.{1,2})?\/(?:[\w.@-]+\/)+[\w.@-]*$/,
  // placeholders and literals
  /^(?:x{3,}|\*{3,}|\.{3,}|null|none|nil|true|false|undefined|changeme|change[_-]?me|example|placeholder|redacted|required|optional|secret|password|token)$/i,
  // a path of lower-case words and numbers between colons: OpenClaw's session keys
  // (`agent:main:openai-user:probe-1`), Redis keys, URNs
  /^[a-z][a-z0-9_-]*(?::[a-z0-9][a-z0-9_.-]*){2,}$/,
  // two lower-case words: a key's or a table's name (`INTERVALS_KEY = "heartbeat-intervals"`); a
  // passphrase of words has more of them (`correct-horse-battery-staple` stays a secret)
  /^[a-z]{3,}[-_][a-z]{3,}$/,
  // a number, a date or a time
  /^(?:[\d.:TZ+-]+|0x[\da-fA-F]+)$/,
];

/**
 * A value assigned to a secret's name that is a secret: long enough, mixed enough, not code, a
 * reference, a placeholder or a path. Letters alone count only when long and of both cases.
 */
export function looksLikeSecretValue(value: string): boolean {
  if (value.length < 6) return false;
  for (const shape of NOT_A_VALUE) if (shape.test(value)) return false;
  if (/^[A-Za-z_]+$/.test(value)) return value.length >= 16 && /[a-z]/.test(value) && /[A-Z]/.test(value);
  return classes(value) >= 2 && entropy(value) >= 2.5;
}
