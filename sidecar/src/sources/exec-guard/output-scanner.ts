import { createHash, type Hash } from "node:crypto";
import { countNewlines, ERROR_LINE } from "./scan.ts";

export interface ErrorLine {
  line: number;
  /** Raw (not yet redacted) and possibly long: whoever shows it redacts it first, then shortens it. */
  text: string;
}

/** Kept of each error line: enough that shortening it for display happens after redaction. */
const KEEP_LINE_BYTES = 1200;
const KEEP_ERRORS = 10;
const CARRY_MAX = 1024;
const BINARY_PROBE = 64 * 1024;

/**
 * Everything the exec guard learns from one pass over the output, without keeping it: size, line
 * count, sha256, the first `keepBytes` bytes, whether it looks binary, and the first and last
 * error-looking lines with their line numbers.
 */
export class OutputScanner {
  bytes = 0;
  lines = 0;
  binary = false;
  errorCount = 0;
  readonly firstErrors: ErrorLine[] = [];
  lastErrors: ErrorLine[] = [];
  readonly head: Buffer;
  #headUsed = 0;
  #lastByte = -1;
  readonly #hash: Hash = createHash("sha256");
  #carry = "";

  constructor(keepBytes: number) {
    this.head = Buffer.allocUnsafe(keepBytes);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#hash.update(chunk);
    if (this.#headUsed < this.head.length) {
      this.#headUsed += chunk.copy(
        this.head,
        this.#headUsed,
        0,
        Math.min(chunk.length, this.head.length - this.#headUsed),
      );
    }
    if (
      !this.binary &&
      this.bytes < BINARY_PROBE &&
      chunk.subarray(0, BINARY_PROBE - this.bytes).includes(0)
    ) {
      this.binary = true;
      this.#carry = "";
    }
    const linesBefore = this.lines;
    this.lines += countNewlines(chunk);
    if (!this.binary) this.#scanErrors(chunk, linesBefore);
    this.bytes += chunk.length;
    this.#lastByte = chunk[chunk.length - 1] as number;
  }

  #scanErrors(chunk: Buffer, linesBefore: number): void {
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl === -1) {
      this.#carry = (this.#carry + chunk.toString("latin1")).slice(-CARRY_MAX);
      return;
    }
    // Whole lines only: the partial last line waits for the next chunk (or the end).
    const text = this.#carry + chunk.toString("latin1", 0, lastNl + 1);
    this.#carry = chunk.toString("latin1", lastNl + 1).slice(-CARRY_MAX);
    this.#scanText(text, linesBefore + 1);
  }

  /** `firstLine` is the number of the line `text` starts with. */
  #scanText(text: string, firstLine: number): void {
    ERROR_LINE.lastIndex = 0;
    let line = firstLine;
    let counted = 0;
    for (let match = ERROR_LINE.exec(text); match !== null; match = ERROR_LINE.exec(text)) {
      const start = text.lastIndexOf("\n", match.index) + 1;
      let end = text.indexOf("\n", match.index);
      if (end === -1) end = text.length;
      for (let at = text.indexOf("\n", counted); at !== -1 && at < start; at = text.indexOf("\n", at + 1))
        line++;
      counted = start;
      this.#record({
        line,
        text: Buffer.from(text.slice(start, Math.min(end, start + KEEP_LINE_BYTES)), "latin1").toString(
          "utf8",
        ),
      });
      ERROR_LINE.lastIndex = end + 1;
    }
  }

  #record(error: ErrorLine): void {
    this.errorCount++;
    if (this.firstErrors.length < KEEP_ERRORS) {
      this.firstErrors.push(error);
      return;
    }
    this.lastErrors.push(error);
    if (this.lastErrors.length > KEEP_ERRORS * 2) this.lastErrors = this.lastErrors.slice(-KEEP_ERRORS);
  }

  /** Call once at the end: counts an unterminated last line and scans it. */
  finish(): { sha256: string; head: Buffer } {
    if (this.bytes > 0 && this.#lastByte !== 10) {
      this.lines++;
      if (!this.binary && this.#carry.length > 0) this.#scanText(`${this.#carry}\n`, this.lines);
    }
    this.lastErrors = this.lastErrors.slice(-KEEP_ERRORS);
    return { sha256: this.#hash.digest("hex"), head: this.head.subarray(0, this.#headUsed) };
  }
}
