import { labelValue } from "@clawguard/shared/metrics/label";
import { type Histogram, type LlmSeries, OTHER_MODEL } from "@clawguard/shared/stats";
import type { FleetAgent } from "../fleet/index.ts";

/**
 * How many series /metrics gives the fleet, whatever the sidecars send (metrics.* in the config):
 *
 * - agents: the first `maxAgents` by name get series of their own; the others none
 *   (`clawguard_metrics_capped{kind="agents"}` says how many; the fleet page and the collector's own
 *   alerts still see them all);
 * - provider/model pairs: an agent's first `llmSeriesPerAgent`, in the order its sidecar first saw
 *   them, keep their labels; the others are added up under provider="other", model="other" (an
 *   agent's pairs only grow while its sidecar runs, so a pair never moves between the two and the
 *   sums stay counters);
 * - memory files: an agent's `memoryFilesPerAgent` largest; probes: its first `probesPerAgent`;
 * - label values (provider, model, file, probe) cut to 64 characters, the cut ones ending in a short
 *   hash of the whole (shared/src/metrics/label.ts, as each sidecar's own /metrics).
 */
export interface MetricsLimits {
  maxAgents: number;
  llmSeriesPerAgent: number;
  memoryFilesPerAgent: number;
  probesPerAgent: number;
}

export const DEFAULT_METRICS_LIMITS: MetricsLimits = {
  maxAgents: 2000,
  llmSeriesPerAgent: 4,
  memoryFilesPerAgent: 10,
  probesPerAgent: 20,
};

/** What was left without series of its own at one render, by kind. */
export interface Capped {
  agents: number;
  llm_series: number;
  memory_files: number;
  probes: number;
}

export const noneCapped = (): Capped => ({ agents: 0, llm_series: 0, memory_files: 0, probes: 0 });

function addHistogram(into: Histogram, h: Histogram): void {
  h.buckets.forEach((n, i) => {
    into.buckets[i] = (into.buckets[i] ?? 0) + n;
  });
  into.sum += h.sum;
  into.count += h.count;
}

function addCounts<K extends string>(
  into: Partial<Record<K, number>>,
  from: Partial<Record<K, number>>,
): void {
  for (const [k, n] of Object.entries(from) as [K, number | undefined][]) into[k] = (into[k] ?? 0) + (n ?? 0);
}

/** An agent's LLM series, at most `perAgent` of their own and the rest added up as other/other. */
export function boundLlm(series: readonly LlmSeries[], perAgent: number, capped: Capped): LlmSeries[] {
  const out = new Map<string, LlmSeries>();
  series.forEach((s, i) => {
    const own = i < perAgent;
    if (!own) capped.llm_series++;
    const provider = own ? labelValue(s.provider) : OTHER_MODEL;
    const model = own ? labelValue(s.model) : OTHER_MODEL;
    const key = `${provider}\0${model}`;
    const into = out.get(key);
    if (!into) {
      out.set(key, {
        ...s,
        provider,
        model,
        calls: { ...s.calls },
        errors: { ...s.errors },
        latency: { ...s.latency, buckets: [...s.latency.buckets] },
        ttft: { ...s.ttft, buckets: [...s.ttft.buckets] },
      });
      return;
    }
    addCounts(into.calls, s.calls);
    addCounts(into.errors, s.errors);
    addHistogram(into.latency, s.latency);
    addHistogram(into.ttft, s.ttft);
    into.inputTokens += s.inputTokens;
    into.outputTokens += s.outputTokens;
    into.cacheReadTokens += s.cacheReadTokens;
  });
  return [...out.values()];
}

/** The agent as /metrics shows it: its LLM series, memory files and probes bounded. */
export function boundAgent(agent: FleetAgent, limits: MetricsLimits, capped: Capped): FleetAgent {
  const probes = agent.probes.slice(0, limits.probesPerAgent);
  capped.probes += agent.probes.length - probes.length;
  if (!agent.stats) return { ...agent, probes };
  const files = Object.entries(agent.stats.memoryBytes).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  const kept = files.slice(0, limits.memoryFilesPerAgent);
  capped.memory_files += files.length - kept.length;
  return {
    ...agent,
    probes,
    stats: {
      ...agent.stats,
      memoryBytes: Object.fromEntries(kept.map(([file, n]) => [labelValue(file), n])),
      llm: boundLlm(agent.stats.llm, limits.llmSeriesPerAgent, capped),
    },
  };
}
