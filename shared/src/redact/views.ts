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

/** Escapes that start a decoded view of their line (JSON's `\n` alone does not: it hides nothing). */
const TRIGGER = /%[0-9A-Fa-f]{2}|\\(?:u[0-9A-Fa-f]{4}|["/\\])/g;
const JSON_ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", n: "\n", t: "\t", r: "\r", b: "\b", f: "\f" };
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
    const escape = escapeAt(text, i);
    at.push(i);
    if (escape && i + escape[1] <= end) {
      out += escape[0];
      i += escape[1];
    } else {
      out += text[i];
      i++;
    }
  }
  at.push(end);
  return { text: out, at };
}

/** The lines of `text` that hold escapes, decoded (and decoded again while escapes remain). */
export function escapedViews(text: string, depth = 1): View[] {
  const views: View[] = [];
  const trigger = new RegExp(TRIGGER.source, "g");
  for (let m = trigger.exec(text); m !== null; m = trigger.exec(text)) {
    const start = text.lastIndexOf("\n", m.index) + 1;
    const newline = text.indexOf("\n", m.index);
    const end = newline < 0 ? text.length : newline;
    const view = decode(text, start, end);
    views.push(view);
    if (depth < MAX_DEPTH) {
      for (const inner of escapedViews(view.text, depth + 1)) {
        views.push({ text: inner.text, at: inner.at.map((i) => view.at[i] as number) });
      }
    }
    trigger.lastIndex = end;
  }
  return views;
}
