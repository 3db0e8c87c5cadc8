import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { DUMP_CONTEXT_ROWS, LineRedactor } from "@clawguard/shared/redact/lines";

export interface LineScan {
  /** 1-based, inclusive. */
  from: number;
  to: number;
  /** Only lines matching this regular expression, each prefixed with its number. */
  pattern?: string | undefined;
  /** With a pattern: stop after this many matches. */
  maxMatches: number;
}

export interface LineScanResult {
  out: string[];
  /** Lines read, up to where the scan stopped. */
  lines: number;
  matches: number;
  /** Whether the scan stopped before the end (past `to`, or at maxMatches). */
  more: boolean;
}

/**
 * Lines `from`..`to` of a text stream, or those of them that match `pattern`, redacted. Every line
 * from the first passes the redactor, so a page that starts inside a private key is redacted as
 * such; a few lines are read ahead, so a hex dump row is redacted with the rows after it. A line matches when it matches as shown, redacted, and only then: matches and their count
 * never tell what a secret holds (`--grep 'sk_live_a'` finds nothing, and no alternation such as
 * `AKIAQ3|aws-access` can tell the raw line from its redaction mark).
 */
export async function scanLines(input: Readable, scan: LineScan): Promise<LineScanResult> {
  const pattern = scan.pattern === undefined ? undefined : new RegExp(scan.pattern);
  const lines = createInterface({ input, crlfDelay: Infinity });
  const redactor = new LineRedactor();
  const out: string[] = [];
  let n = 0;
  let matches = 0;
  let more = false;
  // The lines after the current one, read ahead so a hex dump row is redacted with the rows after it.
  const reader = lines[Symbol.asyncIterator]();
  const ahead: string[] = [];
  for (;;) {
    while (ahead.length <= DUMP_CONTEXT_ROWS) {
      const next = await reader.next();
      if (next.done) break;
      ahead.push(next.value);
    }
    const raw = ahead.shift();
    if (raw === undefined) break;
    n++;
    if (n < scan.from) {
      redactor.pass(raw);
      continue;
    }
    if (n > scan.to) {
      more = true;
      break;
    }
    if (!pattern) {
      out.push(redactor.redact(raw, ahead));
      continue;
    }
    const line = redactor.redact(raw, ahead);
    if (!pattern.test(line)) continue;
    if (matches === scan.maxMatches) {
      more = true;
      break;
    }
    matches++;
    out.push(`${n}: ${line}`);
  }
  lines.close();
  return { out, lines: n, matches, more };
}
