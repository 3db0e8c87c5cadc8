import type { FileHandle } from "node:fs/promises";
import { redactSlice, redactText } from "@clawguard/shared/redact";
import type { ErrorLine } from "./output-scanner.ts";
import type { RunOutcome } from "./run.ts";

const MAX_LINE_CHARS = 400;
const MAX_ERROR_CHARS = 300;
/** 1234567 -> "1,234,567". Not toLocaleString: loading ICU's locale data costs ~10 ms per exec. */
const fmt = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ",");

function clip(line: string, max = MAX_LINE_CHARS): string {
  return line.length > max ? `${line.slice(0, max)}… [+${line.length - max} chars]` : line;
}

/** Read before a preview's tail, so a tail that starts inside a PEM key or a secret redacts it. */
const TAIL_CONTEXT_BYTES = 64 * 1024;

/**
 * Lines as shown: redacted as one block (a private key spans lines), with `context` (the text just
 * before them) as the start of that block, then clipped, so a clip never cuts a secret in two and
 * leaves a part of it that no pattern recognises.
 */
function shown(lines: readonly string[], context = ""): string[] {
  if (lines.length === 0) return [];
  const text = lines.join("\n");
  const redacted = context === "" ? redactText(text) : redactSlice(`${context}\n${text}`, context.length + 1);
  return redacted.split("\n").map((line) => clip(line));
}

/**
 * Whole lines from the start of `buf` that fit in `budget` bytes. A first line longer than that is
 * cut before its last word, which may be a secret cut in two that no redaction pattern would know.
 */
function headLines(buf: Buffer, budget: number): string[] {
  const slice = buf.subarray(0, budget);
  const end = slice.length < buf.length ? slice.lastIndexOf(10) : slice.length;
  let text = slice.subarray(0, end === -1 ? slice.length : end).toString("utf8");
  if (end === -1) text = text.replace(/\s*\S*$/, "");
  return text.length === 0 ? [] : text.replace(/\n$/, "").split("\n");
}

/** Whole lines from the end of the spill that fit in `budget` bytes (see headLines for a longer line). */
async function tailLines(
  file: FileHandle,
  size: number,
  budget: number,
): Promise<{ lines: string[]; context: string }> {
  const length = Math.min(budget, size);
  const buf = Buffer.alloc(length);
  await file.read(buf, 0, length, size - length);
  let body = buf;
  let partial = false;
  if (length < size) {
    // The first line break before the output's own final one: a lone final one means one long line.
    const nl = buf.subarray(0, buf[length - 1] === 10 ? length - 1 : length).indexOf(10);
    partial = nl === -1;
    body = partial ? buf : buf.subarray(nl + 1);
  }
  let text = body.toString("utf8").replace(/\n$/, "");
  // A last line longer than the budget starts mid-word: drop that part word (maybe part of a secret).
  if (partial) text = text.replace(/^\S*\s*/, "");
  // The text before the tail, for redaction only: the tail may start inside a key that began there.
  const start = size - body.length;
  const before = Buffer.alloc(Math.min(TAIL_CONTEXT_BYTES, start));
  if (before.length > 0) await file.read(before, 0, before.length, start - before.length);
  const context = before.toString("utf8").replace(/\n$/, "");
  return { lines: text.length === 0 ? [] : text.split("\n"), context };
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
    const headLast = head.length;
    // A small output (under a 512-byte preview) fits in both: show each line once.
    const overlap = Math.max(0, headLast - (outcome.lines - tail.lines.length));
    const tailShown = tail.lines.slice(overlap);
    const tailFirst = outcome.lines - tailShown.length + 1;
    const middle = (e: ErrorLine) => e.line > headLast && e.line < tailFirst;
    // A line of base64 is no error message, and may be a line of a key whose BEGIN is far above.
    const shownError = (e: ErrorLine) => middle(e) && !/^\s*[A-Za-z0-9+/=]{32,}\s*$/.test(e.text);
    const errors = [...outcome.scanner.firstErrors, ...outcome.scanner.lastErrors].filter(shownError);
    out.push(`--- first ${head.length} lines ---`, ...shown(head));
    if (errors.length > 0) {
      const picked = errors.slice(0, 20);
      let budget = Math.floor(previewBytes * 0.2);
      out.push(`--- ${fmt(outcome.scanner.errorCount)} error-looking lines in all; from the middle: ---`);
      for (const error of picked) {
        const line = `${error.line}: ${clip(redactText(error.text), MAX_ERROR_CHARS)}`;
        budget -= line.length + 1;
        if (budget < 0) break;
        out.push(line);
      }
    }
    const skipped = tailFirst - headLast - 1;
    if (skipped > 0) out.push(`--- ${fmt(skipped)} lines not shown ---`);
    if (tailShown.length > 0) {
      out.push(
        `--- last ${tailShown.length} lines (${fmt(tailFirst)}-${fmt(outcome.lines)}) ---`,
        ...shown(tailShown, [tail.context, ...tail.lines.slice(0, overlap)].join("\n")),
      );
    }
    out.push(
      `[clawguard] page through it: ${input.readCommand} ${outcome.id} --lines ${headLast + 1}:${headLast + 200}`,
      `[clawguard] or search it:     ${input.readCommand} ${outcome.id} --grep PATTERN`,
    );
  }
  out.push(`[clawguard] exit code ${outcome.exitCode}${outcome.timedOut ? " (timed out)" : ""}`);
  return `${redactText(out.join("\n"))}\n`;
}
