import { labelValue } from "@clawguard/shared/metrics/label";
import { emptyHistogram, type LlmSeries, OTHER_MODEL } from "@clawguard/shared/stats";
import { describe, expect, it } from "vitest";
import type { FleetAgent } from "../fleet/index.ts";
import { boundAgent, boundLlm, DEFAULT_METRICS_LIMITS, noneCapped } from "./bound.ts";

const series = (model: string, calls: number): LlmSeries => ({
  provider: "p",
  model,
  calls: { "2xx": calls, "5xx": 1 },
  errors: { server_error: 1 },
  latency: { ...emptyHistogram(), count: calls + 1, sum: calls },
  ttft: emptyHistogram(),
  inputTokens: 10 * calls,
  outputTokens: calls,
  cacheReadTokens: 5 * calls,
});

describe("boundLlm", () => {
  it("keeps an agent's first pairs and adds up the rest as other/other, the totals unchanged", () => {
    const all = Array.from({ length: 16 }, (_, i) => series(`m${i}`, i + 1));
    const capped = noneCapped();
    const bounded = boundLlm(all, 4, capped);
    expect(bounded.map((s) => `${s.provider}/${s.model}`)).toEqual([
      "p/m0",
      "p/m1",
      "p/m2",
      "p/m3",
      "other/other",
    ]);
    expect(capped.llm_series).toBe(12);
    const total = (xs: LlmSeries[], f: (s: LlmSeries) => number) => xs.reduce((n, s) => n + f(s), 0);
    for (const f of [
      (s: LlmSeries) => s.calls["2xx"] ?? 0,
      (s: LlmSeries) => s.errors.server_error ?? 0,
      (s: LlmSeries) => s.latency.count,
      (s: LlmSeries) => s.inputTokens,
    ])
      expect(total(bounded, f)).toBe(total(all, f));
    // The sidecar's own "other" (its 16th pair) joins the same series.
    const withOther = [...all.slice(0, 6), { ...series(OTHER_MODEL, 7), provider: OTHER_MODEL }];
    expect(boundLlm(withOther, 4, noneCapped()).map((s) => s.model)).toEqual([
      "m0",
      "m1",
      "m2",
      "m3",
      "other",
    ]);
  });

  it("leaves the input as it was (the fleet's records are not the metrics' to change)", () => {
    const all = Array.from({ length: 6 }, (_, i) => series(`m${i}`, 1));
    const before = JSON.stringify(all);
    boundLlm(all, 2, noneCapped());
    expect(JSON.stringify(all)).toBe(before);
  });
});

describe("boundAgent", () => {
  it("keeps the largest memory files and the first probes, counting what it leaves out", () => {
    const agent = {
      agent: "a",
      role: "r",
      probes: Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, state: "passing" })),
      stats: {
        memoryBytes: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.md`, i * 100])),
        llm: [],
      },
    } as unknown as FleetAgent;
    const capped = noneCapped();
    const b = boundAgent(agent, DEFAULT_METRICS_LIMITS, capped);
    expect(b.probes).toHaveLength(20);
    expect(Object.keys(b.stats?.memoryBytes ?? {})).toEqual(
      Array.from({ length: 10 }, (_, i) => `f${19 - i}.md`),
    );
    expect(capped).toEqual({ agents: 0, llm_series: 0, memory_files: 10, probes: 10 });
  });
});

describe("labelValue", () => {
  it("cuts a value over 64 characters, two different ones staying two", () => {
    const a = `${"x".repeat(100)}a`;
    const b = `${"x".repeat(100)}b`;
    expect(labelValue("short")).toBe("short");
    expect(labelValue(a)).toHaveLength(64);
    expect(labelValue(a)).not.toBe(labelValue(b));
  });
});
