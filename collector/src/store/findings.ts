import type { IntegrityFinding } from "./audit-store.ts";

/** At most this many integrity findings are recorded for one batch; the rest are folded into the last. */
export const MAX_FINDINGS_PER_BATCH = 20;
const MAX_IDS = 10;

/**
 * Folds per-event findings into one per run: consecutive seqs of the same agent and kind become one
 * finding (first seq, last seq, count, the first ids), so 10 000 altered events are one record, not
 * 10 000. Gaps are one finding per jump already and stay as they are. Past MAX_FINDINGS_PER_BATCH
 * runs, the rest are counted in one last finding.
 */
export function foldFindings(findings: readonly IntegrityFinding[]): IntegrityFinding[] {
  const sorted = [...findings].sort((a, b) =>
    a.agent !== b.agent
      ? a.agent < b.agent
        ? -1
        : 1
      : a.kind !== b.kind
        ? a.kind < b.kind
          ? -1
          : 1
        : a.seq - b.seq,
  );
  const runs: { first: IntegrityFinding; last: IntegrityFinding; ids: string[]; count: number }[] = [];
  for (const finding of sorted) {
    const run = runs[runs.length - 1];
    if (
      run &&
      finding.kind !== "gap" &&
      run.first.kind === finding.kind &&
      run.first.agent === finding.agent &&
      finding.seq <= run.last.seq + 1
    ) {
      run.last = finding;
      run.count++;
      if (finding.event_id && run.ids.length < MAX_IDS) run.ids.push(finding.event_id);
      continue;
    }
    runs.push({ first: finding, last: finding, ids: finding.event_id ? [finding.event_id] : [], count: 1 });
  }
  const out = runs.map(({ first, last, ids, count }): IntegrityFinding => {
    if (count === 1) return first;
    return {
      ...first,
      last_seq: last.seq,
      count,
      event_ids: ids,
      detail: `${count} events, seq ${first.seq}..${last.seq}: ${first.detail}`,
    };
  });
  if (out.length <= MAX_FINDINGS_PER_BATCH) return out;
  const kept = out.slice(0, MAX_FINDINGS_PER_BATCH - 1);
  const rest = out.slice(MAX_FINDINGS_PER_BATCH - 1);
  const restCount = rest.reduce((n, f) => n + (f.count ?? 1), 0);
  const head = rest[0] as IntegrityFinding;
  kept.push({
    ...head,
    count: restCount,
    detail: `${rest.length} more runs (${restCount} events) of findings in this batch, the first: ${head.detail}`,
  });
  return kept;
}
