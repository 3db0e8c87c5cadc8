import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { MAX_LLM_SERIES, OTHER_MODEL } from "@clawguard/shared/stats";
import { describe, expect, it } from "vitest";
import type { EventBus } from "../../bus.ts";
import { StatsSink } from "./index.ts";

const source = { agent: "main", role: "agent", host: "test" };
const call = (provider: string, model: string) =>
  ({
    ...draftEvent({ source, type: "llm.request", attrs: { provider, model, status: 200, duration_ms: 120 } }),
    seq: 1,
  }) as unknown as AuditEvent;

describe("StatsSink", () => {
  it("keeps its LLM series within the bound whatever the providers and models (one 'other' for all beyond)", () => {
    const sink = new StatsSink({} as EventBus, {
      spool: { backlog: 0, bytes: 0, quarantined: [] },
      shipper: { status: { rejected: 0 } },
    });
    for (let m = 0; m < 15; m++) sink.count(call("openrouter", `vendor/model-${m}`));
    for (const provider of ["openai", "anthropic", "google", "mistral"])
      sink.count(call(provider, `${provider}-x`));
    const llm = sink.snapshot().llm;
    expect(llm.length).toBeLessThanOrEqual(MAX_LLM_SERIES);
    const other = llm.filter((s) => s.model === OTHER_MODEL);
    expect(other).toHaveLength(1);
    expect(other[0]?.calls["2xx"]).toBe(4);
    expect(llm.reduce((n, s) => n + (s.calls["2xx"] ?? 0), 0)).toBe(19); // nothing lost
  });
});
