import type { Sample } from "../corpus.ts";

export interface RecallReport {
  total: number;
  caught: number;
  byShape: Record<string, { total: number; caught: number }>;
  byFamily: Record<string, { total: number; caught: number }>;
  /** The first few samples whose secret survived, for a failure message. */
  missed: Sample[];
}

/** A sample is caught when no part of its secret survives `redactor`. */
export function measureRecall(samples: readonly Sample[], redactor: (text: string) => string): RecallReport {
  const report: RecallReport = { total: 0, caught: 0, byShape: {}, byFamily: {}, missed: [] };
  for (const sample of samples) {
    const out = redactor(sample.text);
    const caught = sample.secrets.every((secret) => !out.includes(secret));
    report.total++;
    for (const [table, key] of [
      [report.byShape, sample.shape],
      [report.byFamily, sample.family],
    ] as const) {
      const row = table[key] ?? { total: 0, caught: 0 };
      row.total++;
      if (caught) row.caught++;
      table[key] = row;
    }
    if (caught) report.caught++;
    else if (report.missed.length < 20) report.missed.push(sample);
  }
  return report;
}

/** Lines that `redactor` leaves exactly as they were, and the first few it changed. */
export function measureUntouched(
  lines: readonly string[],
  redactor: (text: string) => string,
): { total: number; untouched: number; changed: { line: string; out: string }[] } {
  let untouched = 0;
  const changed: { line: string; out: string }[] = [];
  for (const line of lines) {
    const out = redactor(line);
    if (out === line) untouched++;
    else if (changed.length < 20) changed.push({ line, out });
  }
  return { total: lines.length, untouched, changed };
}
