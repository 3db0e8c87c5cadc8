import { applyRanges, findSecrets, redactText } from "./index.ts";
import { SECRET_BLOCK_KEY } from "./patterns.ts";

const BEGIN = /-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/i;
const END = /-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/i;
/** The cheap test before BEGIN's (`begin private key` in lower case too). */
const mentionsKey = (line: string) => line.includes("PRIVATE KEY") || /private key/i.test(line);
const MARK = "[REDACTED:private-key]";
/** A PEM block longer than this (an 8192-bit RSA key is ~100 lines) is taken to have lost its end. */
const MAX_BLOCK_LINES = 500;
const BLOCK_KEY = new RegExp(SECRET_BLOCK_KEY, "i");
const BLOCK_MARK = "[REDACTED:credential]";
const BLOCK_END = /[|>][-+]?[1-9]?\s*$/;

/** A hex dump row (xxd, hexdump -C, od): an offset, then hex. */
const DUMP_ROW = /^[0-9a-fA-F]{6,8}(?::? {1,2}| {2})[0-9a-fA-F]{2}/;
/**
 * Dump rows read on each side of a row to find the secrets that cross it (16 bytes a row: 192
 * bytes, 96 UTF-16 characters, each way).
 */
export const DUMP_CONTEXT_ROWS = 12;

/** The indentation of a line (spaces and tabs before its first other character). */
const indentOf = (line: string) => /^[ \t]*/.exec(line)?.[0].length ?? 0;

/**
 * Redacts a text one line at a time, in order, as a pager or a grep reads it, carrying what spans
 * lines: inside a PEM private key block every line is `[REDACTED:private-key]`, even when the page
 * starts in the middle of the block; so is every line of a YAML block scalar under a secret's name
 * (`private_key: |`, then lines indented deeper than the key). A hex dump row is redacted with the
 * dump rows around it (the ones before it, kept here, and the `next` lines a caller passes), so a
 * secret that crosses rows is masked in each. Lines passed to `pass()` are not redacted but still
 * tracked, so a reader can skip to line 5,000 and know it is inside a key that began at line 4,990.
 */
export class LineRedactor {
  /** Lines left in an open private key block; 0 outside one. */
  #inKey = 0;

  /** In a YAML block scalar under a secret's name: the key's indentation; -1 outside one. */
  #blockIndent = -1;

  /** The dump rows just before this line (up to DUMP_CONTEXT_ROWS); empty after any other line. */
  #rows: string[] = [];

  /** Notes a line that is not shown (before the page, or not matching a grep). */
  pass(line: string): void {
    this.#noteRow(line);
    if (this.#inBlock(line)) return;
    if (this.#inKey > 0) {
      this.#inKey = END.test(line) ? 0 : this.#inKey - 1;
    } else if (mentionsKey(line) && BEGIN.test(line)) {
      this.#inKey = this.#opens(line) ? MAX_BLOCK_LINES : 0;
    }
  }

  /** The line as shown; `next` are the lines after it, if the caller has them (for hex dumps). */
  redact(line: string, next: readonly string[] = []): string {
    if (DUMP_ROW.test(line)) {
      const out = this.#dumpRow(line, next);
      this.#noteRow(line);
      return out;
    }
    this.#rows = [];
    if (this.#inBlock(line))
      return line.trim() === "" ? line : `${line.slice(0, indentOf(line))}${BLOCK_MARK}`;
    if (this.#inKey > 0) {
      const end = END.exec(line);
      if (!end) {
        this.#inKey--;
        return MARK;
      }
      this.#inKey = 0;
      const rest = line.slice(end.index + end[0].length);
      return `${MARK}${this.redact(rest)}`;
    }
    const opens = mentionsKey(line) && this.#opens(line);
    const out = redactText(line);
    if (opens) this.#inKey = MAX_BLOCK_LINES;
    return out;
  }

  /** A dump row redacted with the dump rows around it. */
  #dumpRow(line: string, next: readonly string[]): string {
    const after: string[] = [];
    for (const row of next) {
      if (after.length === DUMP_CONTEXT_ROWS || !DUMP_ROW.test(row)) break;
      after.push(row);
    }
    const before = this.#rows.join("\n");
    const from = before.length > 0 ? before.length + 1 : 0;
    const text = [...this.#rows, line, ...after].join("\n");
    const to = from + line.length;
    const inside = findSecrets(text)
      .filter((r) => r.end > from && r.start < to)
      .map((r) => ({ start: Math.max(r.start, from) - from, end: Math.min(r.end, to) - from, name: r.name }));
    return applyRanges(line, inside).text;
  }

  #noteRow(line: string): void {
    if (!DUMP_ROW.test(line)) {
      this.#rows = [];
      return;
    }
    this.#rows.push(line);
    if (this.#rows.length > DUMP_CONTEXT_ROWS) this.#rows.shift();
  }

  /**
   * Whether `line` is inside a block scalar under a secret's name (blank lines stay inside it);
   * notes a line that opens one.
   */
  #inBlock(line: string): boolean {
    if (this.#blockIndent >= 0) {
      if (line.trim() === "" || indentOf(line) > this.#blockIndent) return true;
      this.#blockIndent = -1;
    }
    // The cheap test first: most lines do not end in a block indicator.
    const key = BLOCK_END.test(line) ? BLOCK_KEY.exec(line) : null;
    if (key) this.#blockIndent = key[1]?.length ?? 0;
    return false;
  }

  /** The line begins a block and does not end it. */
  #opens(line: string): boolean {
    const begin = BEGIN.exec(line);
    if (!begin) return false;
    return !END.test(line.slice(begin.index + begin[0].length));
  }
}
