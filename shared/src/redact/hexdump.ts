/**
 * Secrets inside hex dumps that a command printed (`xxd`, `hexdump -C`, `od -A x -t x1z`): the
 * dump's rows are read back into bytes, the bytes searched (as ASCII and as UTF-16LE), and each
 * secret's hex cells and characters in every row it crosses are given as ranges of the text.
 */

interface Range {
  start: number;
  end: number;
  name: string;
}

/** One byte of a dump: where its two hex digits and its character stand in the text. */
interface Cell {
  hex: number;
  /** -1 when the row has no character column. */
  char: number;
  row: number;
}

const GROUP = /[0-9a-fA-F]{2,8}/y;
const MAX_GROUPS = 256;

/** The hex groups after a row's offset: [start, end] of each, in the line. */
function groups(line: string): [number, number][] {
  const out: [number, number][] = [];
  let at = /^[0-9a-fA-F]{6,8}:?/.exec(line)?.[0].length ?? 0;
  for (;;) {
    let spaces = 0;
    while (line[at + spaces] === " " && spaces < 2) spaces++;
    if (spaces === 0) break;
    GROUP.lastIndex = at + spaces;
    const m = GROUP.exec(line);
    // More groups than `xxd -c 256` prints: no dump row (and no quadratic work on a crafted line).
    if (!m || m[0].length % 2 !== 0 || out.length === MAX_GROUPS) break;
    out.push([m.index, m.index + m[0].length]);
    at = m.index + m[0].length;
  }
  return out;
}

/**
 * The cells of one row, given its line's start in the text; undefined when the line is no dump row.
 * The character column is `|…|` (hexdump -C), `>…<` (od z) or the last n characters (xxd).
 */
function rowCells(line: string, offset: number, row: number): Cell[] | undefined {
  let found = groups(line);
  const boxed = /[|>](.*)[|<]\s*$/.exec(line.slice(found[found.length - 1]?.[1] ?? 0));
  const bytesIn = (gs: [number, number][]) => gs.reduce((n, [s, e]) => n + (e - s) / 2, 0);
  let charAt = -1;
  if (boxed) {
    charAt = line.length - boxed[0].length + boxed[0].indexOf(boxed[1] ?? "");
  } else {
    // xxd: drop groups from the end until the rest of the line is 2+ spaces then one character a byte.
    while (found.length > 0) {
      const n = bytesIn(found);
      const end = found[found.length - 1]?.[1] ?? 0;
      if (line.length - n >= end + 2 && line.slice(end, line.length - n).trim() === "") break;
      found = found.slice(0, -1);
    }
    if (found.length === 0) return undefined;
    charAt = line.length - bytesIn(found);
  }
  const cells: Cell[] = [];
  for (const [s, e] of found) {
    for (let i = s; i < e; i += 2) {
      cells.push({ hex: offset + i, char: charAt < 0 ? -1 : offset + charAt + cells.length, row });
    }
  }
  return cells;
}

/**
 * The ranges of `text` that show a secret's bytes in a hex dump. `rows` are the starts of lines that
 * begin like a dump row (an offset, then hex), in order; consecutive lines make one dump.
 */
export function hexDumpSecrets(
  text: string,
  rows: readonly number[],
  find: (bytes: Buffer) => readonly Range[],
): Range[] {
  const out: Range[] = [];
  let cells: Cell[] = [];
  let previousEnd = -2;
  for (const [row, start] of rows.entries()) {
    const newline = text.indexOf("\n", start);
    const end = newline < 0 ? text.length : newline;
    if (start !== previousEnd + 1 && cells.length > 0) {
      out.push(...rangesOf(text, cells, find));
      cells = [];
    }
    const found = rowCells(text.slice(start, end).replace(/\r$/, ""), start, row);
    if (found) cells.push(...found);
    previousEnd = found ? end : -2;
  }
  if (cells.length > 0) out.push(...rangesOf(text, cells, find));
  return out;
}

/** A secret's cells as ranges: per row, one over its hex digits and one over its characters. */
function rangesOf(text: string, cells: Cell[], find: (bytes: Buffer) => readonly Range[]): Range[] {
  const bytes = Buffer.from(cells.map((c) => Number.parseInt(text.slice(c.hex, c.hex + 2), 16)));
  const out: Range[] = [];
  for (const secret of find(bytes)) {
    let first = secret.start;
    while (first < secret.end) {
      const row = (cells[first] as Cell).row;
      let last = first;
      while (last + 1 < secret.end && (cells[last + 1] as Cell).row === row) last++;
      const a = cells[first] as Cell;
      const b = cells[last] as Cell;
      out.push({ start: a.hex, end: b.hex + 2, name: secret.name });
      if (a.char >= 0) out.push({ start: a.char, end: b.char + 1, name: secret.name });
      first = last + 1;
    }
  }
  return out;
}
