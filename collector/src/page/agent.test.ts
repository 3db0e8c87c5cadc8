import { emptyHistogram, type LlmSeries, observe } from "@clawguard/shared/stats";
import { describe, expect, it } from "vitest";
import { mergedSeries, pageAgent } from "./agent.ts";

const series = (model: string, seconds: number[], input: number): LlmSeries => {
  const latency = emptyHistogram();
  for (const s of seconds) observe(latency, s);
  return {
    provider: "openai",
    model,
    calls: { "2xx": seconds.length, "5xx": 1 },
    errors: { server_error: 1 },
    latency,
    ttft: latency,
    inputTokens: input,
    outputTokens: 10,
    cacheReadTokens: input / 2,
  };
};

/** The page's agents carry one LLM series: the sums of theirs (attack finding: 11.6 MB events). */
describe("pageAgent", () => {
  it("sums every series into one, without the time to first token", () => {
    const a = series("a", [0.2, 3], 100);
    const b = series("b", [0.2, 40, 40], 300);
    const expected = emptyHistogram();
    for (const s of [0.2, 3, 0.2, 40, 40]) observe(expected, s);
    expect(mergedSeries([a, b])).toEqual([
      {
        provider: "all",
        model: "all",
        calls: { "2xx": 5, "5xx": 2 },
        errors: { server_error: 2 },
        latency: expected,
        inputTokens: 400,
        outputTokens: 20,
        cacheReadTokens: 200,
      },
    ]);
    expect(mergedSeries([])).toEqual([]);
  });

  it("leaves out the config key hashes, keeps the rest", () => {
    const stats = { memoryBytes: { "MEMORY.md": 3 }, llm: [series("a", [1], 5)] };
    const agent = { agent: "a-1", configKeys: { x: "h" }, stats } as unknown as Parameters<
      typeof pageAgent
    >[0];
    const shown = pageAgent(agent) as Record<string, unknown>;
    expect(shown.configKeys).toBeUndefined();
    expect(shown).toMatchObject({ agent: "a-1", stats: { memoryBytes: { "MEMORY.md": 3 } } });
    expect(pageAgent({ agent: "b" })).toEqual({ agent: "b" });
  });
});
