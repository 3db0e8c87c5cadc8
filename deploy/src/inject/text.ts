/**
 * The compose file as lines. Injection only ever inserts whole lines (each marked) or turns a
 * line into a marked comment, so removal restores the original bytes exactly: line endings,
 * indentation, quoting and comments the yaml printer would otherwise normalise are never touched.
 */

/** Opens a block of added lines; the rest of the line says what the block is. */
export const BEGIN = "# clawguard-inject:begin";
/** Closes the block opened by BEGIN. */
export const END = "# clawguard-inject:end";
/** Ends a single added line. */
export const LINE = " # clawguard-inject";
/** Starts a comment that holds one original line verbatim (after the `|`). */
export const MOVED = "# clawguard-inject:moved|";

export interface Lines {
  lines: string[];
  /** "\r\n" when the file uses CRLF: added lines use the same ending. */
  eol: "\n" | "\r\n";
  /** Offset of the first character of each line. */
  starts: number[];
}

export function toLines(text: string): Lines {
  const raw = text.split("\n");
  const eol = raw.length > 1 && raw.slice(0, -1).every((l) => l.endsWith("\r")) ? "\r\n" : "\n";
  const lines = eol === "\r\n" ? raw.map((l, i) => (i < raw.length - 1 ? l.slice(0, -1) : l)) : raw;
  const starts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    starts.push(offset);
    offset += line.length + eol.length;
  }
  return { lines, eol, starts };
}

export function fromLines(lines: readonly string[], eol: string): string {
  return lines.join(eol);
}

/** The index of the line holding character `offset`. */
export function lineAt(l: Lines, offset: number): number {
  let lo = 0;
  let hi = l.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((l.starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Column of `offset` within its line. */
export function columnAt(l: Lines, offset: number): number {
  return offset - (l.starts[lineAt(l, offset)] ?? 0);
}

/** The line after which content that ends at `end` (a yaml range's value-end) is followed. */
export function lastLineOf(l: Lines, end: number): number {
  return lineAt(l, Math.max(0, end - 1));
}

export const isMarked = (line: string): boolean => line.includes("clawguard-inject");

export interface Removal {
  lines: string[];
  /** How many blocks, single lines and moved lines were taken out or restored. */
  blocks: number;
  singles: number;
  moved: number;
}

/** Takes out every marked block and line and restores every moved line. */
export function removeMarked(l: Lines): Removal {
  const out: string[] = [];
  let blocks = 0;
  let singles = 0;
  let moved = 0;
  for (let i = 0; i < l.lines.length; i++) {
    const line = l.lines[i] ?? "";
    const trimmed = line.trimStart();
    if (trimmed.startsWith(BEGIN)) {
      const start = i;
      while (i < l.lines.length && !(l.lines[i] ?? "").trimStart().startsWith(END)) i++;
      if (i >= l.lines.length) {
        throw new Error(
          `line ${start + 1}: "${BEGIN}" has no matching "${END}" (was the injected block edited by hand?)`,
        );
      }
      blocks++;
    } else if (trimmed.startsWith(END)) {
      throw new Error(`line ${i + 1}: "${END}" without a "${BEGIN}" before it`);
    } else if (trimmed.startsWith(MOVED)) {
      out.push(trimmed.slice(MOVED.length));
      moved++;
    } else if (line.endsWith(LINE)) {
      singles++;
    } else {
      out.push(line);
    }
  }
  return { lines: out, blocks, singles, moved };
}

/** Inserts whole lines after given line indexes; several at one index keep the order given. */
export class Splicer {
  readonly #inserts: { after: number; lines: string[] }[] = [];
  readonly #replaces = new Map<number, string>();

  insertAfter(after: number, lines: string[]): void {
    this.#inserts.push({ after, lines });
  }

  replace(index: number, line: string): void {
    this.#replaces.set(index, line);
  }

  apply(source: readonly string[]): string[] {
    const out: string[] = [];
    const byLine = new Map<number, string[]>();
    for (const { after, lines } of this.#inserts) byLine.set(after, [...(byLine.get(after) ?? []), ...lines]);
    // Content inserted "after line -1" goes first.
    out.push(...(byLine.get(-1) ?? []));
    source.forEach((line, i) => {
      out.push(this.#replaces.get(i) ?? line);
      out.push(...(byLine.get(i) ?? []));
    });
    return out;
  }
}

/**
 * The file's text, which must be UTF-8: Compose refuses anything else (`yaml: incomplete UTF-8
 * octet sequence`, even in a comment), and decoding it anyway would replace the bytes with U+FFFD,
 * which `--remove` could not give back. Throws naming the first line that is not.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return decoder.decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    throw new Error(
      `line ${line}: bytes that are not UTF-8; Compose reads compose files as UTF-8 and refuses this one too: save it as UTF-8`,
    );
  }
}
