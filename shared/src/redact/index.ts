import { commandLineSecrets } from "./argv.ts";
import { hexDumpSecrets } from "./hexdump.ts";
import { SECRET_BLOCK, SECRET_PATTERNS, type SecretPattern } from "./patterns.ts";
import { escapedViews } from "./views.ts";

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

/** Names of the catch-alls by name, which give way to an issuer's name for the same secret. */
const GENERIC_NAMES: ReadonlySet<string> = new Set(
  SECRET_PATTERNS.filter((p) => p.generic).map((p) => p.name),
);

/** A letter, digit or `_`: a character inside a token. */
function tokenChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95
  );
}

/** An ANSI colour code ends just before `index` (`\x1b[32m`): a token starts after it. */
function afterAnsi(text: string, index: number): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: an ANSI escape starts with ESC
  return text[index - 1] === "m" && /\x1b\[[0-9;]{0,12}m$/.test(text.slice(Math.max(0, index - 16), index));
}

const B64_INDEX = new Int8Array(128).fill(-1);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()) {
  B64_INDEX[c.charCodeAt(0)] = i;
}

/**
 * Whether base64 can decode to ASCII text, read from its characters (most identifiers and hashes
 * fail at once, without decoding): in each group of four, the first character holds a byte's top
 * six bits (0x20-0x7e: 8 to 31; tab, newline, return: 2 or 3) and the third the next byte's low bits and the top two bits of the
 * one after (0 or 1).
 */
function mayBeText(b64: string): boolean {
  for (let i = 0; i + 3 < b64.length; i += 4) {
    const first = B64_INDEX[b64.charCodeAt(i)] ?? -1;
    if (first < 2 || first > 31 || first === 4 || first === 5 || first === 6 || first === 7) return false;
    const third = b64.charCodeAt(i + 2);
    if (third !== 61 && ((B64_INDEX[third] ?? -1) & 3) > 1) return false;
  }
  return true;
}

/** Base64 whose decoding is text (a value, a URL, a config file) that holds a secret. */
function decodesToSecret(b64: string): boolean {
  if (b64.length % 4 !== 0 || !mayBeText(b64)) return false;
  const decoded = Buffer.from(b64, "base64").toString("latin1");
  let printable = 0;
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i);
    if ((c >= 0x20 && c < 0x7f) || c === 0x0a || c === 0x0d || c === 0x09) printable++;
  }
  return printable >= decoded.length * 0.95 && findSecrets(decoded).length > 0;
}

/** The range a match redacts, if the pattern accepts it. */
function rangeOf(
  text: string,
  pattern: SecretPattern,
  index: number,
  length: number,
  kept: number,
): SecretRange | undefined {
  if (pattern.tokenStart && index > 0 && tokenChar(text.charCodeAt(index - 1)) && !afterAnsi(text, index))
    return undefined;
  let start = index + kept;
  if (pattern.before === "token")
    while (start > 0 && tokenChar(text.charCodeAt(start - 1)) && !afterAnsi(text, start)) start--;
  else if (pattern.before) start = Math.max(0, start - pattern.before);
  const end = index + length;
  if (end <= start || (pattern.accept && !pattern.accept(text.slice(start, end)))) return undefined;
  if (pattern.encoded && !decodesToSecret(text.slice(start, end))) return undefined;
  return { start, end, name: pattern.name };
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
    const kept = keptOf(pattern, m);
    // A base64 pattern's test searches its decoding with these same expressions: resume from here.
    const resume = regex.lastIndex;
    const range = rangeOf(text, pattern, m.index, m[0].length, kept);
    regex.lastIndex = resume;
    if (range) out.push(range);
  }
}

/**
 * The patterns that keep no group, as one alternation (each in a group of its
 * own, to tell which matched): one pass over the text instead of one per pattern. Alternatives are
 * nested under their first letter (`s(?:(k-ant-…)|(k_live_…))|g(?:…)`), which the engine tries
 * about twice as fast as a flat list. The rest run one by one.
 */
interface Compiled {
  combined: RegExp;
  /** The pattern of each capture group, in order. */
  members: readonly SecretPattern[];
  separate: readonly SecretPattern[];
}

/**
 * The number of capture groups in a regular expression's source, read from its text: `(` outside a
 * class and unescaped, not `(?:`, `(?=`, `(?!` or a look-behind (a named group counts). Compiling
 * each pattern to ask the engine instead cost ~10 ms of every exec's start (119 expressions).
 */
export function captureGroups(source: string): number {
  let groups = 0;
  outsideClasses(source, (c, i) => {
    if (
      c === "(" &&
      (source[i + 1] !== "?" || (source[i + 2] === "<" && !"=!".includes(source[i + 3] ?? "")))
    )
      groups++;
  });
  return groups;
}

/**
 * Calls `visit` with each character of a regular expression's source that stands outside a
 * character class and is not escaped (nor an escape's backslash); `visit` returns true to stop.
 */
function outsideClasses(source: string, visit: (c: string, i: number) => unknown): void {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (visit(c, i)) return;
  }
}
const combinable = (p: SecretPattern) =>
  p.keepGroup === undefined && p.pattern.flags === "g" && captureGroups(p.pattern.source) === 0;
/** The length of a match's kept prefix. */
const keptOf = (p: SecretPattern, m: RegExpExecArray) =>
  p.keepGroup !== undefined
    ? (m[p.keepGroup]?.length ?? 0)
    : p.keep
      ? (p.keep.exec(m[0])?.[0].length ?? 0)
      : 0;
/**
 * The literal first character a pattern's source starts with (a letter, a digit, `:`, `=`, `<`, `-`,
 * or an escaped `$`, `{`, `.`), if it can be factored out.
 */
const firstLetter = (source: string) =>
  hasTopLevelAlternative(source) ? "" : (/^(?:[A-Za-z0-9:=<-]|\\[$.{])(?![*+?{])/.exec(source)?.[0] ?? "");

/** The source is `a|b` outside any group or class (its first character is then not shared). */
function hasTopLevelAlternative(source: string): boolean {
  let depth = 0;
  let found = false;
  outsideClasses(source, (c) => {
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) found = true;
    return found;
  });
  return found;
}

let compiled: Compiled | undefined;
function compile(): Compiled {
  const byFirst = new Map<string, SecretPattern[]>();
  for (const p of SECRET_PATTERNS.filter(combinable)) {
    const first = firstLetter(p.pattern.source);
    byFirst.set(first, [...(byFirst.get(first) ?? []), p]);
  }
  const members: SecretPattern[] = [];
  const parts: string[] = [];
  for (const [first, group] of byFirst) {
    members.push(...group);
    const alternatives = group.map((p) => `(${p.pattern.source.slice(first.length)})`).join("|");
    parts.push(first === "" ? alternatives : `${first}(?:${alternatives})`);
  }
  const separate = SECRET_PATTERNS.filter((p) => !combinable(p));
  compiled = { combined: new RegExp(parts.join("|"), "g"), members, separate };
  return compiled;
}

function combinedRanges(text: string, { combined, members }: Compiled, out: SecretRange[]): void {
  combined.lastIndex = 0;
  for (let m = combined.exec(text); m !== null; m = combined.exec(text)) {
    if (m[0].length === 0) {
      combined.lastIndex++;
      continue;
    }
    let g = 1;
    while (m[g] === undefined && g < members.length) g++;
    const member = members[g - 1] as SecretPattern;
    // A base64 value's test searches its decoding with this same expression: resume from here.
    const resume = combined.lastIndex;
    const range = rangeOf(text, member, m.index, m[0].length, keptOf(member, m));
    if (range) {
      out.push(range);
      // A value after a name is searched again for an issuer's key (bounded: 512 characters).
      combined.lastIndex = member.generic ? range.start : resume;
    } else {
      combined.lastIndex = resumeAfterRefusal(member, m, keptOf(member, m), resume);
    }
  }
}

/**
 * Marks of the rarer shapes, found in one pass: (1) a `|` or `>` that ends a line (a YAML block
 * scalar's start), (2) a line that starts like a hex dump row. (Escapes are found by indexOf.)
 */
const RARE = /([|>])(?=[-+]?[1-9]?[ \t]*\r?\n)|\n(?=[0-9a-fA-F]{6,8}(?::? {1,2}| {2})[0-9a-fA-F]{2})/g;
/** A dump row on the text's first line (RARE finds the others by the newline before them). */
const FIRST_ROW = /^[0-9a-fA-F]{6,8}(?::? {1,2}| {2})[0-9a-fA-F]{2}/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
const HEX4 = /^[0-9A-Fa-f]{4}$/;

/** Whether a URL or JSON escape starts at `text[i]` (a `%` or a `\\`): `%2F`, `\\u002F`, `\\"`, `\\/`. */
function escapeAt(text: string, i: number): boolean {
  if (text[i] === "%") return HEX2.test(text.slice(i + 1, i + 3));
  const next = text[i + 1];
  return next === '"' || next === "/" || (next === "u" && HEX4.test(text.slice(i + 2, i + 6)));
}

/** An index on each line of `text` that holds an escape (one per line). */
function escapedLines(text: string): number[] {
  const lines = new Map<number, number>();
  for (const mark of ["%", "\\"]) {
    for (let i = text.indexOf(mark); i >= 0; i = text.indexOf(mark, i + 1)) {
      if (!escapeAt(text, i)) continue;
      const start = text.lastIndexOf("\n", i) + 1;
      if (!lines.has(start)) lines.set(start, i);
      const newline = text.indexOf("\n", i);
      if (newline < 0) break;
      i = newline;
    }
  }
  return [...lines.values()];
}

/**
 * The secrets of the rarer shapes, each looked at where its mark is: escaped lines searched
 * decoded (`password%3D…`, `\\"token\\":\\"…\\"`), YAML block scalars under a secret's name, and
 * hex dumps a command printed (xxd, hexdump -C, od; the bytes they show, ASCII or UTF-16LE).
 */
function findRare(text: string, found: SecretRange[]): void {
  for (const at of escapedLines(text)) {
    for (const view of escapedViews(text, at)) {
      const inView: SecretRange[] = [];
      findIn(view.text, inView);
      for (const r of inView) {
        found.push({ start: view.at[r.start] as number, end: view.at[r.end] as number, name: r.name });
      }
    }
  }
  const rows: number[] = FIRST_ROW.test(text) ? [0] : [];
  const rare = new RegExp(RARE.source, "g");
  for (let m = rare.exec(text); m !== null; m = rare.exec(text)) {
    if (m[1] !== undefined) {
      SECRET_BLOCK.pattern.lastIndex = m.index;
      const block = SECRET_BLOCK.pattern.exec(text);
      const range = block && rangeOf(text, SECRET_BLOCK, m.index, block[0].length, block[1]?.length ?? 0);
      if (range) found.push(range);
    } else {
      rows.push(m.index + 1);
    }
  }
  if (rows.length > 0) for (const r of hexDumpSecrets(text, rows, findSecretsInBytes)) found.push(r);
}

/** The secrets every pattern finds in `text` as it is written, unsorted. */
function findIn(text: string, found: SecretRange[]): void {
  const patterns = compiled ?? compile();
  combinedRanges(text, patterns, found);
  for (const pattern of patterns.separate) rangesOf(text, pattern, found);
}

/**
 * Where the scan goes on after a match its pattern turned down. A refused base64 value or value after
 * a name may hold a key of another shape (`KEY=AKIA…` is no base64 secret; `"private_key":
 * "-----BEGIN…` is no single value): the scan goes on from the value's start. Those values are
 * bounded (512 characters), so this stays linear; other refused matches (`sk-sk-sk-…`) are passed.
 */
function resumeAfterRefusal(member: SecretPattern, m: RegExpExecArray, kept: number, end: number): number {
  const index = m.index;
  if (member.encoded) return index + 1;
  if (member.resumeAfter) return index + Math.max(1, member.resumeAfter.exec(m[0])?.[0].length ?? 0);
  return member.keep && kept > 0 ? index + kept : end;
}

/**
 * The secrets in `text`, sorted and merged: where two patterns' matches overlap they become one
 * range (nothing of either survives) named after the earlier pattern.
 */
export function findSecrets(text: string): SecretRange[] {
  const found: SecretRange[] = [];
  findIn(text, found);
  findRare(text, found);
  for (const r of commandLineSecrets(text)) found.push(r);
  return mergeRanges(found);
}

/**
 * Ranges sorted, and merged where they overlap: nothing of either survives, and the merged range
 * is named after the earlier pattern (the sort is stable), an issuer's rather than a catch-all's.
 */
function mergeRanges(found: SecretRange[]): SecretRange[] {
  if (found.length < 2) return found;
  // At one start, an issuer's name comes before a catch-all's (`credential`).
  const generic = GENERIC_NAMES;
  found.sort((a, b) => a.start - b.start || Number(generic.has(a.name)) - Number(generic.has(b.name)));
  const merged: SecretRange[] = [];
  for (const range of found) {
    const last = merged[merged.length - 1];
    if (last && range.start < last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/**
 * The secrets in raw bytes, as byte ranges: read one byte per character (secrets are ASCII, so
 * they sit at their byte offsets, binary or not) and, where the bytes hold NULs, also as UTF-16LE
 * from an even and from an odd offset (what Windows tools, PowerShell and .NET write: `g\0h\0p\0_\0…`).
 */
export function findSecretsInBytes(buf: Buffer): SecretRange[] {
  const found = findSecrets(buf.toString("latin1"));
  if (!buf.includes(0)) return found;
  for (const shift of [0, 1]) {
    const wide = buf.subarray(shift, shift + ((buf.length - shift) & ~1)).toString("utf16le");
    for (const r of findSecrets(wide)) {
      found.push({ start: shift + 2 * r.start, end: shift + 2 * r.end, name: r.name });
    }
  }
  return mergeRanges(found);
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
