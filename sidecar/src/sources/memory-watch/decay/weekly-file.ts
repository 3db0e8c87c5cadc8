import { createHash } from "node:crypto";
import { ClawguardError } from "@clawguard/shared/errors";

/**
 * The weekly file `memory/weekly/YYYY-Www.md` (and, later, `memory/archive/YYYY-MM/YYYY-Www.md`).
 * It is Markdown an agent can read, and every day in it is kept byte for byte:
 *
 *   <!-- clawguard:weekly 2026-W45 v1: ... -->\n
 *   \n
 *   ## 2026-11-02\n
 *   <!-- clawguard:day 2026-11-02 bytes=1234 sha256=<64 hex> -->\n
 *   <exactly 1234 bytes: the day's file as it was>\n
 *   <!-- clawguard:end 2026-11-02 -->\n
 *   (the next day: \n## ... again)
 *
 * The day's bytes are found by their count, not by looking for a marker, so a day may hold
 * anything (headings, these very markers, no trailing newline, nothing at all, any bytes). The
 * newline before the end marker is always there and not part of the day. Days are in date order;
 * a day seen again with other content (the agent wrote it again after it was compacted) is kept
 * as a second section with the same date. A section is identified by (date, sha256).
 */
export interface DaySection {
  date: string;
  content: Buffer;
  sha256: string;
}

export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

export const sectionKey = (s: { date: string; sha256: string }) => `${s.date} ${s.sha256}`;

const header = (week: string) =>
  `<!-- clawguard:weekly ${week} v1: days compacted by clawguard memory decay, each kept byte for byte after its clawguard:day line (bytes=N); do not edit -->\n`;
const HEADER = /^<!-- clawguard:weekly (\d{4}-W\d{2}) v1(?:: [^\n]*)? -->$/;
const DAY = /^<!-- clawguard:day (\d{4}-\d{2}-\d{2}) bytes=(\d{1,15}) sha256=([0-9a-f]{64}) -->$/;

export function daySection(date: string, content: Buffer): DaySection {
  return { date, content, sha256: sha256(content) };
}

export function encodeWeekly(week: string, sections: readonly DaySection[]): Buffer {
  const parts: Buffer[] = [Buffer.from(header(week))];
  for (const s of sections) {
    parts.push(
      Buffer.from(
        `\n## ${s.date}\n<!-- clawguard:day ${s.date} bytes=${s.content.length} sha256=${s.sha256} -->\n`,
      ),
      s.content,
      Buffer.from(`\n<!-- clawguard:end ${s.date} -->\n`),
    );
  }
  return Buffer.concat(parts);
}

/**
 * The days in a weekly file, checked byte by byte (structure, counts and hashes). A file that is
 * not exactly what `encodeWeekly` writes is an `input.invalid` error naming the file and offset:
 * decay never rewrites a file it cannot read back exactly.
 */
export function parseWeekly(data: Buffer, file: string, week?: string): DaySection[] {
  let pos = 0;
  const fail = (what: string): never => {
    throw new ClawguardError(
      "input.invalid",
      `${file}: not a clawguard weekly file at byte ${pos}: ${what}; nothing was changed (restore the file or move it out of memory/)`,
      { details: { file, offset: pos } },
    );
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail("expected a line ending with a newline");
    const text = data.subarray(pos, end).toString("latin1");
    pos = end + 1;
    return text;
  };
  const expect = (text: string) => {
    if (data.length - pos < text.length || data.toString("latin1", pos, pos + text.length) !== text) {
      fail(`expected ${JSON.stringify(text)}`);
    }
    pos += text.length;
  };
  const head = HEADER.exec(line());
  if (!head) {
    pos = 0;
    fail("expected the <!-- clawguard:weekly YYYY-Www v1 --> header line");
  }
  if (week !== undefined && head?.[1] !== week) {
    pos = 0;
    fail(`expected week ${week}, the header says ${head?.[1]}`);
  }
  const sections: DaySection[] = [];
  let previous = "";
  while (pos < data.length) {
    const start = pos;
    expect("\n## ");
    const date = line();
    const marker = DAY.exec(line());
    if (!marker || marker[1] !== date) {
      pos = start;
      fail(`expected "## ${date}" followed by its <!-- clawguard:day ${date} bytes=N sha256=H --> line`);
    }
    if (date < previous) {
      pos = start;
      fail(`day ${date} after ${previous}: days must be in date order`);
    }
    const bytes = Number(marker?.[2]);
    if (data.length - pos < bytes) fail(`day ${date} says ${bytes} bytes, only ${data.length - pos} remain`);
    const content = Buffer.from(data.subarray(pos, pos + bytes));
    const hash = sha256(content);
    if (hash !== marker?.[3]) fail(`day ${date}: sha256 ${hash}, the marker says ${marker?.[3]}`);
    pos += bytes;
    expect(`\n<!-- clawguard:end ${date} -->\n`);
    sections.push({ date, content, sha256: hash });
    previous = date;
  }
  return sections;
}

/**
 * `existing` plus those of `incoming` it lacks (by date and sha256), in date order (stable: for
 * one date, what was there first stays first). Returns the merged list and what was added.
 */
export function mergeSections(
  existing: readonly DaySection[],
  incoming: readonly DaySection[],
): { sections: DaySection[]; added: DaySection[] } {
  const seen = new Set(existing.map(sectionKey));
  const added: DaySection[] = [];
  for (const s of incoming) {
    const key = sectionKey(s);
    if (seen.has(key)) continue;
    seen.add(key);
    added.push(s);
  }
  const sections = [...existing, ...added];
  // Array.prototype.sort is stable: equal dates keep their order.
  sections.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return { sections, added };
}
