import type { LlmSeries, SidecarStats } from "@clawguard/shared/stats";

/** The LLM figures the page shows for an agent: all its provider/model series summed into one. */
export type PageSeries = Omit<LlmSeries, "ttft">;

function sumInto<K extends string>(into: Partial<Record<K, number>>, from: Partial<Record<K, number>>) {
  for (const [k, n] of Object.entries(from) as [K, number][]) into[k] = (into[k] ?? 0) + n;
}

/**
 * An agent's LLM series summed into one (the page shows per agent totals and one p95: the sums and
 * the cumulative latency buckets added up give the same figures), without the time to first token
 * (not shown). With 16 models an agent's entry is a third of its size (attack finding: 1 000 heavy
 * agents made the page's first event 11.6 MB).
 */
export function mergedSeries(series: readonly LlmSeries[]): PageSeries[] {
  if (series.length === 0) return [];
  const all: PageSeries = {
    provider: "all",
    model: "all",
    calls: {},
    errors: {},
    latency: { buckets: [], sum: 0, count: 0 },
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
  };
  for (const s of series) {
    sumInto(all.calls, s.calls);
    sumInto(all.errors, s.errors);
    s.latency.buckets.forEach((n, i) => {
      all.latency.buckets[i] = (all.latency.buckets[i] ?? 0) + n;
    });
    all.latency.sum += s.latency.sum;
    all.latency.count += s.latency.count;
    all.inputTokens += s.inputTokens;
    all.outputTokens += s.outputTokens;
    all.cacheReadTokens += s.cacheReadTokens;
  }
  return [all];
}

/** An agent as the page gets it: without the per-key config hashes, its LLM series merged. */
export function pageAgent<A extends { agent: string; configKeys?: unknown; stats?: SidecarStats }>(agent: A) {
  const { configKeys: _keys, stats, ...rest } = agent;
  return stats ? { ...rest, stats: { ...stats, llm: mergedSeries(stats.llm ?? []) } } : rest;
}
