import { createInterface } from "node:readline";
import { ClawguardError } from "@clawguard/shared/errors";
import { redactText } from "@clawguard/shared/redact";
import type { SpillStore } from "./spill.ts";

export const DEFAULT_READ_LIMIT = 16 * 1024;
export const MAX_READ_LIMIT = 1024 * 1024;
export const MAX_LINES = 10_000;
export const DEFAULT_MAX_MATCHES = 200;

export type ReadMode =
  | { kind: "bytes"; offset: number; limit: number }
  | { kind: "lines"; from: number; to: number }
  | { kind: "grep"; pattern: string; from?: number; to?: number; maxMatches: number };

export interface ReadResult {
  /** Redacted text of the page. */
  text: string;
  /** One line saying where this page sits and how to get the next one. */
  footer: string;
  totalBytes: number;
  nextOffset?: number;
}

/** A page as hex when it holds NUL bytes (binary output), otherwise as text. */
function render(buf: Buffer, offset: number): string {
  if (!buf.includes(0)) return redactText(buf.toString("utf8"));
  const rows: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = buf.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    rows.push(`${(offset + i).toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return `${redactText(rows.join("\n"))}\n`;
}

/** Parses `A:B` (1-based, inclusive; `A:` to the end). */
export function parseLineRange(value: string): { from: number; to: number } {
  const match = /^(\d+):(\d*)$/.exec(value);
  const from = Number(match?.[1]);
  const to = match?.[2] ? Number(match[2]) : from + MAX_LINES - 1;
  if (!match || from < 1 || to < from) {
    throw new ClawguardError(
      "input.invalid",
      `--lines: expected A:B with 1 <= A <= B (e.g. 1:200), got ${JSON.stringify(value)}`,
    );
  }
  if (to - from + 1 > MAX_LINES) {
    throw new ClawguardError(
      "input.invalid",
      `--lines: at most ${MAX_LINES} lines per read, got ${to - from + 1}`,
    );
  }
  return { from, to };
}

function compilePattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new ClawguardError(
      "input.invalid",
      `--grep: not a valid pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

/** Reads part of a spill: a byte range, a line range, or the lines matching a pattern. Always redacted. */
export async function readSpill(store: SpillStore, id: string, mode: ReadMode): Promise<ReadResult> {
  const { handle, size } = await store.open(id);
  try {
    if (mode.kind === "bytes") {
      if (!Number.isSafeInteger(mode.offset) || mode.offset < 0) {
        throw new ClawguardError("input.invalid", `offset: expected an integer >= 0, got ${mode.offset}`);
      }
      if (!Number.isSafeInteger(mode.limit) || mode.limit < 1 || mode.limit > MAX_READ_LIMIT) {
        throw new ClawguardError(
          "input.invalid",
          `limit: expected an integer in 1..${MAX_READ_LIMIT}, got ${mode.limit}`,
        );
      }
      const length = Math.max(0, Math.min(mode.limit, size - mode.offset));
      const buf = Buffer.alloc(length);
      if (length > 0) await handle.read(buf, 0, length, mode.offset);
      const end = mode.offset + length;
      const result: ReadResult = {
        text: render(buf, mode.offset),
        footer:
          end < size
            ? `[clawguard] bytes ${mode.offset}-${end} of ${size}; next: clawguard read ${id} --offset ${end} --limit ${mode.limit}`
            : `[clawguard] bytes ${mode.offset}-${end} of ${size} (end)`,
        totalBytes: size,
      };
      if (end < size) result.nextOffset = end;
      return result;
    }
    const from = mode.from ?? 1;
    const to = mode.to ?? Number.MAX_SAFE_INTEGER;
    const pattern = mode.kind === "grep" ? compilePattern(mode.pattern) : undefined;
    const lines = createInterface({
      input: handle.createReadStream({ encoding: "utf8", autoClose: false }),
      crlfDelay: Infinity,
    });
    const out: string[] = [];
    let n = 0;
    let matches = 0;
    let more = false;
    for await (const line of lines) {
      n++;
      if (n < from) continue;
      if (n > to) {
        more = true;
        break;
      }
      if (!pattern) {
        out.push(line);
        continue;
      }
      if (!pattern.test(line)) continue;
      if (matches === (mode as { maxMatches: number }).maxMatches) {
        more = true;
        break;
      }
      matches++;
      out.push(`${n}: ${line}`);
    }
    lines.close();
    const text = out.length > 0 ? redactText(`${out.join("\n")}\n`) : "";
    const footer = pattern
      ? `[clawguard] ${matches} matching line${matches === 1 ? "" : "s"}${more ? ` (stopped at --max-matches ${matches}; narrow with --lines)` : ""}`
      : more
        ? `[clawguard] lines ${from}-${to}; next: clawguard read ${id} --lines ${to + 1}:${to + (to - from + 1)}`
        : `[clawguard] lines ${from}-${Math.max(from - 1, n)} of ${n} (end)`;
    return { text, footer, totalBytes: size };
  } finally {
    await handle.close();
  }
}
