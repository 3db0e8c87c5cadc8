import type { FileHandle } from "node:fs/promises";
import { redactText } from "@clawguard/shared/redact";
import type { ErrorLine } from "./output-scanner.ts";
import type { RunOutcome } from "./run.ts";

const MAX_LINE_CHARS = 400;
const fmt = (n: number) => n.toLocaleString("en-US");

function clip(line: string): string {
  return line.length > MAX_LINE_CHARS
    ? `${line.slice(0, MAX_LINE_CHARS)}… [+${line.length - MAX_LINE_CHARS} chars]`
    : line;
}

/** Whole lines from the start of `buf` that fit in `budget` bytes. */
function headLines(buf: Buffer, budget: number): string[] {
  const slice = buf.subarray(0, budget);
  const end = slice.length < buf.length ? slice.lastIndexOf(10) : slice.length;
  const text = slice.subarray(0, end === -1 ? slice.length : end).toString("utf8");
  return text.length === 0 ? [] : text.replace(/\n$/, "").split("\n");
}

/** Whole lines from the end of the spill that fit in `budget` bytes. */
async function tailLines(
  file: FileHandle,
  size: number,
  budget: number,
): Promise<{ lines: string[]; buf: Buffer }> {
  const length = Math.min(budget, size);
  const buf = Buffer.alloc(length);
  await file.read(buf, 0, length, size - length);
  let body = buf;
  if (length < size) {
    const nl = buf.indexOf(10);
    body = nl === -1 ? buf : buf.subarray(nl + 1);
  }
  const text = body.toString("utf8").replace(/\n$/, "");
  return { lines: text.length === 0 ? [] : text.split("\n"), buf: body };
}

export interface PreviewInput {
  outcome: RunOutcome;
  previewBytes: number;
  maxBytes: number;
  /** The command a person or agent runs to page through the spill. */
  readCommand: string;
  spill: FileHandle;
}

/**
 * The text printed instead of an output over the limit: head and tail lines within the preview
 * budget, error-looking lines from the middle, the totals, and how to read the rest. Redacted.
 */
export async function renderPreview(input: PreviewInput): Promise<string> {
  const { outcome, previewBytes } = input;
  const out: string[] = [];
  out.push(
    `[clawguard] output was ${fmt(outcome.bytes)} bytes in ${fmt(outcome.lines)} lines, over the ${fmt(input.maxBytes)}-byte limit: the full output is saved.`,
    `[clawguard] spill ${outcome.id}  sha256 ${outcome.sha256}`,
  );
  if (outcome.binary) {
    out.push(
      "[clawguard] the output is binary (it contains NUL bytes): no preview.",
      `[clawguard] inspect it: ${input.readCommand} ${outcome.id} --offset 0 --limit 512`,
    );
  } else {
    const head = headLines(outcome.head, Math.floor(previewBytes * 0.4));
    const tail = await tailLines(input.spill, outcome.bytes, Math.floor(previewBytes * 0.4));
    const tailFirst = outcome.lines - tail.lines.length + 1;
    const headLast = head.length;
    const middle = (e: ErrorLine) => e.line > headLast && e.line < tailFirst;
    const errors = [...outcome.scanner.firstErrors, ...outcome.scanner.lastErrors].filter(middle);
    out.push(`--- first ${head.length} lines ---`, ...head.map(clip));
    if (errors.length > 0) {
      const shown = errors.slice(0, 20);
      let budget = Math.floor(previewBytes * 0.2);
      out.push(`--- ${fmt(outcome.scanner.errorCount)} error-looking lines in all; from the middle: ---`);
      for (const error of shown) {
        const line = `${error.line}: ${clip(error.text)}`;
        budget -= line.length + 1;
        if (budget < 0) break;
        out.push(line);
      }
    }
    const skipped = tailFirst - headLast - 1;
    if (skipped > 0) out.push(`--- ${fmt(skipped)} lines not shown ---`);
    out.push(
      `--- last ${tail.lines.length} lines (${fmt(tailFirst)}-${fmt(outcome.lines)}) ---`,
      ...tail.lines.map(clip),
    );
    out.push(
      `[clawguard] page through it: ${input.readCommand} ${outcome.id} --lines ${headLast + 1}:${headLast + 200}`,
      `[clawguard] or search it:     ${input.readCommand} ${outcome.id} --grep PATTERN`,
    );
  }
  out.push(`[clawguard] exit code ${outcome.exitCode}${outcome.timedOut ? " (timed out)" : ""}`);
  return `${redactText(out.join("\n"))}\n`;
}
