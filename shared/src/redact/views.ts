/**
 * Decoded copies of the parts of a text where a secret may hide behind an encoding: lines with URL
 * escapes (`password%3Dhunter2`, `%2F` in a value) or JSON escapes (`\"token\":\"…\"`, `\u002F`).
 * The redactor looks for secrets in each copy too and maps what it finds back to the original.
 */

/** A decoded copy of `text.slice(at[0], at[text.length])`: `at[i]` is where its character i came from. */
export interface View {
  text: string;
  at: number[];
}

/**
 * Escapes that make a decoded view of their line worth searching (JSON's `\n` alone does not: it
 * hides nothing). index.ts finds the lines that hold them (escapeAt, by indexOf).
 */
const TRIGGER = /%[0-9A-Fa-f]{2}|\\(?:u[0-9A-Fa-f]{4}|["/\\])/g;
const JSON_ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
};
/** Escapes decoded within each other (a JSON string inside a JSON string): this many times at most. */
const MAX_DEPTH = 2;

const HEX_DIGITS = { 2: /^[0-9A-Fa-f]{2}$/, 4: /^[0-9A-Fa-f]{4}$/ };
/** The number written in the `n` hex digits at `text[i]`, or -1. */
function hexAt(text: string, i: number, n: 2 | 4): number {
  const digits = text.slice(i, i + n);
  return HEX_DIGITS[n].test(digits) ? Number.parseInt(digits, 16) : -1;
}

/** The escape at `text[i]` as the character it stands for and its length, if it is one. */
function escapeAt(text: string, i: number): [string, number] | undefined {
  const c = text[i];
  if (c === "%") {
    const byte = hexAt(text, i + 1, 2);
    return byte < 0 ? undefined : [String.fromCharCode(byte), 3];
  }
  if (c !== "\\") return undefined;
  const next = text[i + 1] ?? "";
  if (next === "u") {
    const code = hexAt(text, i + 2, 4);
    return code < 0 ? undefined : [String.fromCharCode(code), 6];
  }
  const plain = JSON_ESCAPES[next];
  return plain === undefined ? undefined : [plain, 2];
}

/** `text.slice(start, end)` with its escapes decoded once. */
function decode(text: string, start: number, end: number): View {
  let out = "";
  const at: number[] = [];
  for (let i = start; i < end; ) {
    const decoded = escapeAt(text, i);
    at.push(i);
    if (decoded && i + decoded[1] <= end) {
      out += decoded[0];
      i += decoded[1];
    } else {
      out += text[i];
      i++;
    }
  }
  at.push(end);
  return { text: out, at };
}

/** The line of `text` around `index` decoded, and decoded again while escapes remain in it. */
export function escapedViews(text: string, index: number, depth = 1): View[] {
  const start = text.lastIndexOf("\n", index) + 1;
  const newline = text.indexOf("\n", index);
  const view = decode(text, start, newline < 0 ? text.length : newline);
  const views = [view];
  TRIGGER.lastIndex = 0;
  const inner = depth < MAX_DEPTH ? TRIGGER.exec(view.text) : null;
  if (inner) {
    for (const again of escapedViews(view.text, inner.index, depth + 1)) {
      views.push({ text: again.text, at: again.at.map((i) => view.at[i] as number) });
    }
  }
  return views;
}
