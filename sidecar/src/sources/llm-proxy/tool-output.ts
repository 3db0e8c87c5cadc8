import { createHash } from "node:crypto";
import { ulid } from "@clawguard/shared/ids";
import { redactSlice, redactText } from "@clawguard/shared/redact";
import type { SpillStore } from "../exec-guard/spill.ts";

const PREVIEW_HEAD_CHARS = 1500;
const PREVIEW_TAIL_CHARS = 1000;
/**
 * Redacted with the tail: a tail that starts inside a PEM key (an 8192-bit RSA key is ~6.4 KB) or a
 * token is redacted as such.
 */
const TAIL_CONTEXT_CHARS = 8 * 1024;
/**
 * Characters the previews of one request may send through the redactor, all its spills together.
 * The guard runs on the proxy's event loop (requests under 256 KiB, and a retry after the provider's
 * overflow answer whatever its size): this bounds how long one request's previews hold it (64 KiB:
 * ~13 ms on the slowest adversarial input measured, ~2 ms on ordinary output; issue 13 froze the
 * sidecar for 42 s with four outputs of 62 KB when a pattern was quadratic). Past it, a spilled
 * output's preview names the spill and shows none of its text.
 */
export const PREVIEW_REDACT_CHARS = 64 * 1024;

/** What is left of PREVIEW_REDACT_CHARS for one request (one per trim). */
export class PreviewBudget {
  left = PREVIEW_REDACT_CHARS;

  /** Takes `chars` if that many are left. */
  take(chars: number): boolean {
    if (chars > this.left) return false;
    this.left -= chars;
    return true;
  }
}

/** Spill files written at once, across requests: a huge conversation can hold thousands of tool outputs. */
const MAX_WRITES = 8;
let writing = 0;
const waiting: (() => void)[] = [];

async function limited(write: () => Promise<void>): Promise<void> {
  if (writing >= MAX_WRITES) await new Promise<void>((resolve) => waiting.push(resolve));
  writing++;
  try {
    await write();
  } finally {
    writing--;
    waiting.shift()?.();
  }
}

/**
 * Saves a tool output that is too big for the context in the exec guard's spill store, and returns
 * what the model gets instead: its first and last lines, its size, and how to read the rest with
 * `clawguard read`. The preview is redacted; the spill, like an exec spill, stays raw. The id and the
 * preview are known at once; the file is written in the background (`saved`), so a trim that spills
 * many outputs writes them side by side instead of one after the other.
 */
export function spillToolOutput(
  store: SpillStore,
  text: string,
  tokens: number,
  meta: { agent: string; session?: string | undefined; origin: string },
  budget = new PreviewBudget(),
): { id: string; replacement: string; saved: Promise<void> } {
  const id = ulid();
  const raw = Buffer.from(text, "utf8");
  const lines = countLines(text);
  const saved = limited(async () => {
    const file = await store.create(id);
    try {
      await file.writeFile(raw);
    } finally {
      await file.close();
    }
    await store.writeMeta({
      id,
      agent: meta.agent,
      session: meta.session,
      command: meta.origin,
      createdAt: new Date().toISOString(),
      bytes: raw.length,
      lines,
      sha256: createHash("sha256").update(raw).digest("hex"),
      exitCode: 0,
      binary: false,
    });
  });
  return { id, replacement: preview(text, { id, bytes: raw.length, lines, tokens }, budget), saved };
}

function preview(
  text: string,
  info: { id: string; bytes: number; lines: number; tokens: number },
  budget: PreviewBudget,
): string {
  const head = cutAtLine(text.slice(0, PREVIEW_HEAD_CHARS), "end");
  const tail = cutAtLine(text.slice(-PREVIEW_TAIL_CHARS), "start");
  const cost = head.length + Math.min(text.length, tail.length + TAIL_CONTEXT_CHARS);
  const about = `[clawguard] this tool output (${info.bytes} bytes, ${info.lines} lines, ~${info.tokens} tokens) was too large for the context and was saved as spill ${info.id}.`;
  const read = `clawguard read ${info.id} --lines A:B   or   clawguard read ${info.id} --grep PATTERN`;
  if (!budget.take(cost)) {
    return [
      about,
      `[clawguard] no preview: this request's other spilled outputs took the preview allowance.`,
      `[clawguard] read it: ${read}`,
    ].join("\n");
  }
  return [
    about,
    `[clawguard] first lines:`,
    redactText(head),
    `[clawguard] ... last lines:`,
    redactTail(text, tail.length),
    `[clawguard] read more: ${read}`,
  ].join("\n");
}

/** The last `length` characters of `text`, redacted with what comes just before them. */
function redactTail(text: string, length: number): string {
  const from = Math.max(0, text.length - length - TAIL_CONTEXT_CHARS);
  return redactSlice(text.slice(from), text.length - length - from);
}

/** Whole lines only, unless the text has a single long line. */
function cutAtLine(part: string, side: "start" | "end"): string {
  if (side === "end") {
    const nl = part.lastIndexOf("\n");
    return nl > 0 ? part.slice(0, nl) : part;
  }
  const nl = part.indexOf("\n");
  return nl >= 0 && nl < part.length - 1 ? part.slice(nl + 1) : part;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return text.length > 0 && !text.endsWith("\n") ? n + 1 : n;
}
