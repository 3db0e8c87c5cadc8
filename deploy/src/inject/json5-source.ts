import JSON5 from "json5";

/**
 * A JSON5 document as source ranges, so that a few values can be changed or added while every
 * other byte (comments, quoting, key order, trailing commas, blank lines) stays as it was.
 * Only for text that `JSON5.parse` has accepted: JSON5.parse decides what is valid and what each
 * literal means; this only finds where things are.
 */

interface Range {
  /** Offset of the first character. */
  start: number;
  /** Offset after the last character. */
  end: number;
}

export interface J5Object extends Range {
  kind: "object";
  members: J5Member[];
}
export interface J5Array extends Range {
  kind: "array";
  items: J5Node[];
}
export interface J5Scalar extends Range {
  kind: "scalar";
  value: unknown;
  /** The quote of a string literal. */
  quote?: '"' | "'" | undefined;
}
export type J5Node = J5Object | J5Array | J5Scalar;

export interface J5Member {
  key: string;
  keyStart: number;
  keyEnd: number;
  /** How the key is written: quoted with `"` or `'`, or a bare identifier (""). */
  keyQuote: '"' | "'" | "";
  value: J5Node;
}

/** One change to the text: `text` replaces [start, end). */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

const LINE_BREAK = /[\n\r\u2028\u2029]/;
const SPACE = /[\s\uFEFF]/;
const DELIMITER = /[\s\uFEFF,:[\]{}/]/;

class Reader {
  pos = 0;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  /** Skips whitespace and comments. */
  skip(): void {
    const t = this.text;
    for (;;) {
      const c = t[this.pos];
      if (c !== undefined && SPACE.test(c)) this.pos++;
      else if (c === "/" && t[this.pos + 1] === "/") {
        while (this.pos < t.length && !LINE_BREAK.test(t[this.pos] as string)) this.pos++;
      } else if (c === "/" && t[this.pos + 1] === "*") {
        const close = t.indexOf("*/", this.pos + 2);
        this.pos = close < 0 ? t.length : close + 2;
      } else return;
    }
  }

  value(): J5Node {
    this.skip();
    const c = this.text[this.pos];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"' || c === "'") {
      const start = this.pos;
      this.string();
      return {
        kind: "scalar",
        start,
        end: this.pos,
        value: JSON5.parse(this.text.slice(start, this.pos)),
        quote: c,
      };
    }
    const start = this.pos;
    while (this.pos < this.text.length && !DELIMITER.test(this.text[this.pos] as string)) this.pos++;
    if (this.pos === start) throw new Error(`internal: JSON5 value expected at offset ${start}`);
    return { kind: "scalar", start, end: this.pos, value: JSON5.parse(this.text.slice(start, this.pos)) };
  }

  /** Moves past a string literal starting at pos. */
  string(): void {
    const quote = this.text[this.pos];
    this.pos++;
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      this.pos += this.text[this.pos] === "\\" ? 2 : 1;
    }
    this.pos++;
  }

  object(): J5Object {
    const start = this.pos++;
    const members: J5Member[] = [];
    for (;;) {
      this.skip();
      if (this.text[this.pos] === "}") break;
      const keyStart = this.pos;
      const c = this.text[this.pos];
      let key: string;
      let keyQuote: J5Member["keyQuote"] = "";
      if (c === '"' || c === "'") {
        this.string();
        key = JSON5.parse(this.text.slice(keyStart, this.pos)) as string;
        keyQuote = c;
      } else {
        while (this.pos < this.text.length && !DELIMITER.test(this.text[this.pos] as string)) this.pos++;
        // Identifiers may hold \uXXXX escapes: let JSON5 read the name.
        key = Object.keys(JSON5.parse(`{${this.text.slice(keyStart, this.pos)}:0}`))[0] as string;
      }
      const keyEnd = this.pos;
      this.skip();
      this.pos++; // ':'
      const value = this.value();
      members.push({ key, keyStart, keyEnd, keyQuote, value });
      this.skip();
      if (this.text[this.pos] === ",") this.pos++;
    }
    this.pos++;
    return { kind: "object", start, end: this.pos, members };
  }

  array(): J5Array {
    const start = this.pos++;
    const items: J5Node[] = [];
    for (;;) {
      this.skip();
      if (this.text[this.pos] === "]") break;
      items.push(this.value());
      this.skip();
      if (this.text[this.pos] === ",") this.pos++;
    }
    this.pos++;
    return { kind: "array", start, end: this.pos, items };
  }
}

/** The document's ranges; `text` must already have passed `JSON5.parse`. */
export function parseSource(text: string): J5Node {
  return new Reader(text).value();
}

/** The member `key` of an object (the last one, as JSON5.parse takes the last of duplicates). */
export function member(node: J5Node | undefined, key: string): J5Member | undefined {
  if (node?.kind !== "object") return undefined;
  return node.members.findLast((m) => m.key === key);
}

/** How the file writes things, so that added text looks like the rest. */
export interface Style {
  keyQuote: J5Member["keyQuote"];
  /** Between a key and its value: ": " or ":". */
  colon: string;
  eol: "\n" | "\r\n";
}

export function styleOf(text: string, root: J5Node): Style {
  const first = root.kind === "object" ? root.members[0] : undefined;
  const between = first ? text.slice(first.keyEnd, first.value.start) : ": ";
  return {
    keyQuote: first?.keyQuote ?? '"',
    colon: /^[ \t]*:$/.test(between) ? ":" : ": ",
    eol: text.includes("\r\n") ? "\r\n" : "\n",
  };
}

/** A string literal in the given quote. */
export function quoteString(value: string, quote: '"' | "'" = '"'): string {
  if (quote === '"') return JSON.stringify(value);
  return `'${JSON.stringify(value).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
}

export function keyText(key: string, style: Style): string {
  if (style.keyQuote === "" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return key;
  return quoteString(key, style.keyQuote === "'" ? "'" : '"');
}

/** `{ key: value, ... }` on one line, in the file's style; values are already literals. */
export function inlineObject(entries: [string, string][], style: Style): string {
  return `{ ${entries.map(([k, v]) => `${keyText(k, style)}${style.colon}${v}`).join(", ")} }`;
}

const indentOf = (text: string, offset: number): string => {
  let lineStart = offset;
  while (lineStart > 0 && !LINE_BREAK.test(text[lineStart - 1] as string)) lineStart--;
  return /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? "";
};

/**
 * Adds `child` (a member `key: value` or an array item, as text) after the last child of a
 * container: on a line of its own with the last child's indentation when the container spans
 * lines, else after a comma on the same line. The comma style (trailing comma or not) is the
 * file's, and comments after the last child stay on its line.
 */
export function appendChild(
  text: string,
  container: J5Object | J5Array,
  child: string,
  style: Style,
): Edit[] {
  const children =
    container.kind === "object"
      ? container.members.map((m) => ({ start: m.keyStart, end: m.value.end }))
      : container.items.map((i) => ({ start: i.start, end: i.end }));
  const last = children[children.length - 1];
  const close = container.end - 1;
  if (!last) {
    // Whatever is inside (a comment) stays after the new child.
    const pad = container.kind === "object" ? " " : "";
    const empty = container.start + 1 === close;
    return [
      { start: container.start + 1, end: container.start + 1, text: `${pad}${child}${empty ? pad : ""}` },
    ];
  }
  // After the last child: its comma, if any, and where its line ends (past comments on it).
  let pos = last.end;
  let comma = -1;
  let lineEnd = -1;
  while (pos < close) {
    const c = text[pos] as string;
    if (c === " " || c === "\t") pos++;
    else if (c === "," && comma < 0) comma = pos++;
    else if (c === "/" && text[pos + 1] === "/") {
      while (pos < close && !LINE_BREAK.test(text[pos] as string)) pos++;
    } else if (c === "/" && text[pos + 1] === "*") {
      const end = text.indexOf("*/", pos + 2);
      if (end < 0) break;
      pos = end + 2;
    } else if (LINE_BREAK.test(c)) {
      lineEnd = pos;
      break;
    } else break;
  }
  const multiline = LINE_BREAK.test(text.slice(last.end, close));
  if (multiline && lineEnd >= 0) {
    const line = `${style.eol}${indentOf(text, last.start)}${child}${comma >= 0 ? "," : ""}`;
    if (comma >= 0) return [{ start: lineEnd, end: lineEnd, text: line }];
    if (lineEnd === last.end) return [{ start: last.end, end: last.end, text: `,${line}` }];
    return [
      { start: last.end, end: last.end, text: "," },
      { start: lineEnd, end: lineEnd, text: line },
    ];
  }
  if (comma >= 0) return [{ start: comma + 1, end: comma + 1, text: ` ${child},` }];
  return [{ start: last.end, end: last.end, text: `, ${child}` }];
}

/** Applies non-overlapping edits; several at one offset land in the order given. */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  const sorted = edits.map((e, i) => ({ ...e, i })).sort((a, b) => b.start - a.start || b.i - a.i);
  let out = text;
  let limit = text.length;
  for (const e of sorted) {
    if (e.end > limit) throw new Error("internal: overlapping JSON5 edits");
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
    limit = e.start;
  }
  return out;
}
