/**
 * Where values sit inside a JSON text, so a request can be changed by splicing: everything the
 * guard does not touch keeps its exact original bytes (the provider's prompt cache keys on them, and
 * a client's own serialization, `", "` separators or `\u` escapes, is not ours to redo).
 * The text is assumed to be valid JSON (it was parsed first); positions are string indices.
 */

export interface Span {
  start: number;
  /** Exclusive. */
  end: number;
}

const WS = new Set([0x20, 0x0a, 0x0d, 0x09]);

function skipWs(text: string, at: number): number {
  while (at < text.length && WS.has(text.charCodeAt(at))) at++;
  return at;
}

/** The index just past the string starting at `at` (which holds its opening quote). */
function stringEnd(text: string, at: number): number {
  let i = at + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote === -1) throw new Error(`unterminated string at ${at}`);
    let backslashes = 0;
    for (let j = quote - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

/** The index just past the value starting at `at`. */
export function valueEnd(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c === 0x22) return stringEnd(text, at);
  if (c !== 0x7b && c !== 0x5b) {
    // A number or literal: up to the next delimiter.
    let i = at;
    while (i < text.length) {
      const d = text.charCodeAt(i);
      if (d === 0x2c || d === 0x7d || d === 0x5d || WS.has(d)) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  for (let i = at; i < text.length; i++) {
    const d = text.charCodeAt(i);
    if (d === 0x22) i = stringEnd(text, i) - 1;
    else if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d || d === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error(`unterminated value at ${at}`);
}

/** The span of the whole document's value (the text may have whitespace around it). */
export function rootSpan(text: string): Span {
  const start = skipWs(text, 0);
  return { start, end: valueEnd(text, start) };
}

/** The members of the object at `span`: each key with the span of its value. */
export function objectMembers(text: string, span: Span): Map<string, Span> {
  const members = new Map<string, Span>();
  let i = skipWs(text, span.start + 1);
  while (text.charCodeAt(i) !== 0x7d) {
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    const start = skipWs(text, skipWs(text, keyEnd) + 1); // past the colon
    const end = valueEnd(text, start);
    members.set(key, { start, end });
    i = skipWs(text, end);
    if (text.charCodeAt(i) === 0x2c) i = skipWs(text, i + 1);
  }
  return members;
}

/** The spans of the elements of the array at `span`. */
export function arrayElements(text: string, span: Span): Span[] {
  const elements: Span[] = [];
  let i = skipWs(text, span.start + 1);
  while (text.charCodeAt(i) !== 0x5d) {
    const end = valueEnd(text, i);
    elements.push({ start: i, end });
    i = skipWs(text, end);
    if (text.charCodeAt(i) === 0x2c) i = skipWs(text, i + 1);
  }
  return elements;
}

/** A change to the text: `span` is replaced by `text`. */
export interface Splice {
  span: Span;
  text: string;
}

/** Applies non-overlapping splices; everything between them is copied unchanged. */
export function applySplices(text: string, splices: Splice[]): string {
  const sorted = [...splices].sort((a, b) => a.span.start - b.span.start);
  const parts: string[] = [];
  let at = 0;
  for (const s of sorted) {
    if (s.span.start < at) throw new Error("overlapping splices");
    parts.push(text.slice(at, s.span.start), s.text);
    at = s.span.end;
  }
  parts.push(text.slice(at));
  return parts.join("");
}

/**
 * Whether `text` nests objects and arrays deeper than `limit` (strings skipped): checked before a
 * body is parsed and walked, since counting walks values recursively.
 */
export function nestsDeeper(text: string, limit: number): boolean {
  let depth = 0;
  for (let at = 0; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === 0x22) {
      const quote = stringEnd(text, at);
      at = quote - 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
