import { createHash, type Hash } from "node:crypto";
import { countNewlines, ERROR_LINE, FINGERPRINT_OFFSET, findCandidate } from "./scan.ts";

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

  /**
   * Error words are searched in the bytes: only a line where findCandidate sees an error word's
   * fingerprint becomes a string for the regular expression, so output without them (most of it)
   * costs one SIMD pass and no allocation.
   */
  #scanErrors(chunk: Buffer, linesBefore: number): void {
    const firstNl = chunk.indexOf(10);
    if (firstNl === -1) {
      this.#extendLine(chunk, 0, chunk.length);
      return;
    }
    // The line an earlier chunk began ends here; the whole lines after it are searched in place;
    // the partial last line waits for the next chunk (or the end).
    this.#extendLine(chunk, 0, firstNl);
    if (this.#lineMatched) this.#record({ line: linesBefore + 1, text: latin1ToUtf8(this.#lineHead) });
    this.#endLine();
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl > firstNl) this.#scanLines(chunk, firstNl + 1, lastNl + 1, linesBefore + 2);
    if (lastNl + 1 < chunk.length) this.#extendLine(chunk, lastNl + 1, chunk.length);
  }

  /** chunk[from, to) continues the current line (no newline in it). */
  #extendLine(chunk: Buffer, from: number, to: number): void {
    if (!this.#lineMatched) {
      // A word across the cut lies in the kept tail and the piece's first bytes; one wholly in the
      // piece starts at most FINGERPRINT_OFFSET before the first fingerprint there.
      const start = chunk.toString("latin1", from, Math.min(to, from + OVERLAP));
      const hit = findCandidate(chunk, from, to);
      this.#lineMatched =
        ERROR_WORD.test(this.#lineTail + start) ||
        (hit !== -1 &&
          ERROR_WORD.test(chunk.toString("latin1", Math.max(from, hit - FINGERPRINT_OFFSET), to)));
    }
    if (this.#lineHead.length < KEEP_LINE_BYTES) {
      this.#lineHead += chunk.toString(
        "latin1",
        from,
        Math.min(to, from + KEEP_LINE_BYTES - this.#lineHead.length),
      );
    }
    this.#lineTail = (this.#lineTail + chunk.toString("latin1", Math.max(from, to - OVERLAP), to)).slice(
      -OVERLAP,
    );
  }

  #endLine(): void {
    this.#lineHead = "";
    this.#lineTail = "";
    this.#lineMatched = false;
  }

  /** chunk[from, to) is whole lines (it ends with a newline); `firstLine` is the number of the first. */
  #scanLines(chunk: Buffer, from: number, to: number, firstLine: number): void {
    let line = firstLine;
    let counted = from;
    for (let at = from; at < to; ) {
      const hit = findCandidate(chunk, at, to);
      if (hit === -1) return;
      // A fingerprint never holds a newline: the hit is inside one line, which the regex decides.
      const start = Math.max(at, chunk.lastIndexOf(10, hit) + 1);
      const end = chunk.indexOf(10, hit);
      const text = chunk.toString("latin1", Math.max(start, hit - FINGERPRINT_OFFSET), end);
      if (ERROR_WORD.test(text)) {
        line += countNewlines(chunk, counted, start);
        counted = start;
        this.#record({
          line,
          text: latin1ToUtf8(chunk.toString("latin1", start, Math.min(end, start + KEEP_LINE_BYTES))),
        });
      }
      at = end + 1;
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
