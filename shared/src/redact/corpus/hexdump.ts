import type { Gen } from "./random.ts";
import type { Placed } from "./shapes.ts";

/** A row of a dump: its bytes' offset, hex cells and characters as the format prints them. */
interface Row {
  line: string;
  hex: string;
  chars: string;
  from: number;
  to: number;
}

const hex2 = (b: number) => b.toString(16).padStart(2, "0");
const shown = (b: number) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".");

/** `bytes` as `xxd` (2-byte groups), `xxd -g1`, `hexdump -C` or `od -A x -t x1z` prints them. */
function dumpRows(format: string, bytes: Buffer): Row[] {
  const rows: Row[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = [...bytes.subarray(at, at + 16)];
    const chars = row.map(shown).join("");
    let hex: string;
    let line: string;
    if (format === "xxd") {
      hex = row
        .map(hex2)
        .join("")
        .replace(/(.{4})(?=.)/g, "$1 ");
      line = `${at.toString(16).padStart(8, "0")}: ${hex.padEnd(39)}  ${chars}`;
    } else if (format === "xxd-g1") {
      hex = row.map(hex2).join(" ");
      line = `${at.toString(16).padStart(8, "0")}: ${hex.padEnd(47)}  ${chars}`;
    } else if (format === "hexdump") {
      hex = `${row.slice(0, 8).map(hex2).join(" ")}${row.length > 8 ? "  " : ""}${row.slice(8).map(hex2).join(" ")}`;
      line = `${at.toString(16).padStart(8, "0")}  ${hex.padEnd(48)}  |${chars}|`;
    } else {
      hex = row.map(hex2).join(" ");
      line = `${at.toString(16).padStart(6, "0")} ${hex.padEnd(47)}  >${chars}<`;
    }
    rows.push({ line, hex, chars, from: at, to: at + row.length });
  }
  return rows;
}

/**
 * `text` as a command dumps it in hex (ASCII or UTF-16LE, as Windows tools write text), and for
 * each secret what of it a row shows: a whole row's hex and characters where the secret covers one,
 * else the characters of its part in the row that holds its middle.
 */
export function hexDumpShape(r: Gen, text: string, secrets: readonly string[]): Placed {
  const wide = r.int(2) === 1;
  const bytes = Buffer.from(text, wide ? "utf16le" : "latin1");
  const rows = dumpRows(r.pick(["xxd", "xxd-g1", "hexdump", "od"]), bytes);
  const shownParts: string[] = [];
  for (const secret of secrets) {
    const from = text.indexOf(secret) * (wide ? 2 : 1);
    const to = from + secret.length * (wide ? 2 : 1);
    const whole = rows.find((row) => row.from >= from && row.to <= to && row.to - row.from === 16);
    if (whole) {
      shownParts.push(whole.hex, whole.chars);
      continue;
    }
    const middle = Math.floor((from + to) / 2);
    const row = rows.find((x) => x.from <= middle && middle < x.to) as Row;
    shownParts.push(row.chars.slice(Math.max(from, row.from) - row.from, Math.min(to, row.to) - row.from));
  }
  return { text: rows.map((row) => row.line).join("\n"), secrets: shownParts.filter((p) => p.length >= 4) };
}
