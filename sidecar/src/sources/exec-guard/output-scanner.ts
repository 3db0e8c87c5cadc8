import { createHash, type Hash } from "node:crypto";
import { countNewlines, ERROR_LINE } from "./scan.ts";

const ERROR_WORD = new RegExp(ERROR_LINE.source, "i");

export interface ErrorLine {
  line: number;
  /** Raw (not yet redacted) and possibly long: whoever shows it redacts it first, then shortens it. */
  text: string;
}

/** Kept of each error line: enough that shortening it for display happens after redaction. */
const KEEP_LINE_BYTES = 1200;
const KEEP_ERRORS = 10;
/** Longer than any error word: kept of a line cut by a chunk boundary, so a word cut too is seen. */
const OVERLAP = 16;
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
  /** The line a chunk boundary cut: its first KEEP_LINE_BYTES, its last OVERLAP, whether it matched. */
  #lineHead = "";
  #lineTail = "";
  #lineMatched = false;

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
      this.#endLine();
    }
    const linesBefore = this.lines;
    this.lines += countNewlines(chunk);
    if (!this.binary) this.#scanErrors(chunk, linesBefore);
    this.bytes += chunk.length;
    this.#lastByte = chunk[chunk.length - 1] as number;
  }

  #scanErrors(chunk: Buffer, linesBefore: number): void {
    const firstNl = chunk.indexOf(10);
    if (firstNl === -1) {
      this.#extendLine(chunk.toString("latin1"));
      return;
    }
    // The line an earlier chunk began ends here; the whole lines after it are one string, scanned
    // in one go; the partial last line waits for the next chunk (or the end).
    this.#extendLine(chunk.toString("latin1", 0, firstNl));
    if (this.#lineMatched) this.#record({ line: linesBefore + 1, text: latin1ToUtf8(this.#lineHead) });
    this.#endLine();
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl > firstNl) this.#scanText(chunk.toString("latin1", firstNl + 1, lastNl + 1), linesBefore + 2);
    if (lastNl + 1 < chunk.length) this.#extendLine(chunk.toString("latin1", lastNl + 1));
  }

  #extendLine(piece: string): void {
    if (!this.#lineMatched) this.#lineMatched = ERROR_WORD.test(this.#lineTail + piece);
    if (this.#lineHead.length < KEEP_LINE_BYTES) {
      this.#lineHead += piece.slice(0, KEEP_LINE_BYTES - this.#lineHead.length);
    }
    this.#lineTail = (this.#lineTail + piece.slice(-OVERLAP)).slice(-OVERLAP);
  }

  #endLine(): void {
    this.#lineHead = "";
    this.#lineTail = "";
    this.#lineMatched = false;
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
        text: latin1ToUtf8(text.slice(start, Math.min(end, start + KEEP_LINE_BYTES))),
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
      if (!this.binary && this.#lineMatched) {
        this.#record({ line: this.lines, text: latin1ToUtf8(this.#lineHead) });
      }
    }
    this.lastErrors = this.lastErrors.slice(-KEEP_ERRORS);
    return { sha256: this.#hash.digest("hex"), head: this.head.subarray(0, this.#headUsed) };
  }
}

/** Output is scanned as latin1 (any byte is one char); what is shown is decoded as UTF-8. */
function latin1ToUtf8(text: string): string {
  return Buffer.from(text, "latin1").toString("utf8");
}
