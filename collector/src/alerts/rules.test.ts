import { LATENCY_BUCKETS_S } from "@clawguard/shared/stats";
import { describe, expect, it } from "vitest";
import type { FleetAgent } from "../fleet/index.ts";
import { alertsConfig } from "./config.ts";
import {
  conditionsOf,
  driftConditions,
  failoverConditions,
  moreConditionsOf,
  p95,
  resolvedSummary,
  type Sample,
  sampleOf,
} from "./rules.ts";

const config = alertsConfig.parse({});
const agent = (over: Partial<FleetAgent> = {}) =>
  ({ agent: "a", role: "gateway", state: "healthy", stale: false, reasons: [], ...over }) as FleetAgent;
const sample = (calls: number, failed: number, slow = 0, extra: Partial<Sample> = {}): Sample => ({
  at: 0,
  calls,
  failed,
  authFailed: 0,
  inputTokens: 0,
  cacheReadTokens: 0,
  ...extra,
  // `slow` calls above 30 s (in the 60 s bucket), the rest under 1 s.
  buckets: LATENCY_BUCKETS_S.map((le) => (le >= 1 ? calls : 0) - (le >= 1 && le < 60 ? slow : 0)),
  count: calls,
});

describe("alert rules", () => {
  it("p95 interpolates within its bucket as histogram_quantile does", () => {
    // 100 calls, all in (1, 2.5]: rank 95 sits 95 % of the way through that bucket.
    const buckets = LATENCY_BUCKETS_S.map((le) => (le >= 2.5 ? 100 : 0));
    expect(p95(buckets, 100)).toBeCloseTo(1 + 1.5 * 0.95);
    expect(
      p95(
        LATENCY_BUCKETS_S.map(() => 0),
        10,
      ),
    ).toBe(Number.POSITIVE_INFINITY);
  });

  it("gateway down on unhealthy or stale; error rate over 5 % with enough calls; p95 over 30 s", () => {
    expect(conditionsOf(agent(), sample(0, 0), sample(100, 5), config)).toEqual([]);
    expect(conditionsOf(agent(), sample(0, 0), sample(100, 6), config).map((c) => c.alert)).toEqual([
      "llm_error_rate",
    ]);
    // Too few calls for a verdict.
    expect(conditionsOf(agent(), sample(0, 0), sample(10, 5), config)).toEqual([]);
    expect(conditionsOf(agent({ stale: true }), undefined, sample(0, 0), config)[0]).toMatchObject({
      alert: "gateway_down",
      severity: "P0",
    });
    expect(conditionsOf(agent(), sample(0, 0), sample(100, 0, 10), config).map((c) => c.alert)).toEqual([
      "llm_latency",
    ]);
    // Any other role down is P1 agent_down, after 30 s (rules.yml's ClawguardAgentDown), not "gateway down".
    expect(conditionsOf(agent({ role: "bot", state: "unhealthy" }), undefined, sample(0, 0), config)).toEqual(
      [
        expect.objectContaining({
          alert: "agent_down",
          severity: "P1",
          forMs: 30_000,
          summary: "a (bot) is down (unhealthy)",
        }),
      ],
    );
    // A counter that went down (the sidecar restarted) gives no rate.
    expect(conditionsOf(agent(), sample(500, 0), sample(100, 50), config)).toEqual([]);
  });

  it("provider auth, prompt cache under 70 %, spool backlog, config drift", () => {
    const from = sample(0, 0);
    const names = (to: Sample, a = agent()) => moreConditionsOf(a, from, to, config).map((c) => c.alert);
    expect(names(sample(10, 2, 0, { authFailed: 2 }))).toEqual(["provider_auth"]);
    expect(names(sample(10, 0, 0, { inputTokens: 20_000, cacheReadTokens: 13_000 }))).toEqual([
      "prompt_cache_low",
    ]);
    expect(names(sample(10, 0, 0, { inputTokens: 20_000, cacheReadTokens: 15_000 }))).toEqual([]);
    // Too few tokens to say.
    expect(names(sample(10, 0, 0, { inputTokens: 5_000, cacheReadTokens: 0 }))).toEqual([]);
    const backlogged = agent({ stats: { spoolBacklog: 5000 } as FleetAgent["stats"] });
    expect(moreConditionsOf(backlogged, undefined, sample(0, 0), config)[0]).toMatchObject({
      alert: "spool_backlog",
      forMs: 600_000,
    });
    const drift = driftConditions(
      [{ role: "bot", fingerprints: { aaa: ["b1"], bbb: ["b2", "b3"] }, keys: ["llm.providers"] }],
      config,
    );
    expect(drift[0]).toMatchObject({ alert: "config_drift", role: "bot", agent: "b1,b2,b3" });
    expect(drift[0]?.summary).toBe("role bot: 2 different configs (llm.providers)");
  });

  it("memory over its limit; a failover performed or held", () => {
    const oversize = agent({
      stats: { memoryOversize: 1 } as FleetAgent["stats"],
      reasons: [
        "memory/2026-12-07.md is 300000 bytes, over the daily log limit of 262144 (memory.dailyMaxBytes): run clawguard memory decay, or split the log",
      ],
    });
    const [c] = moreConditionsOf(oversize, undefined, sample(0, 0), config);
    expect(c).toMatchObject({ alert: "memory_oversize", severity: "P2" });
    expect(c?.summary).toMatch(
      /^a: 1 memory file\(s\) over their limit: memory\/2026-12-07\.md is 300000 bytes/,
    );
    const at = "2026-12-07T04:00:00.000Z";
    expect(
      failoverConditions([
        { agent: "gw", role: "gateway", action: "route-switched", at },
        { agent: "gw", role: "gateway", action: "failover-held", at },
      ]).map((f) => f.summary),
    ).toEqual([
      `gw: failed over (route-switched) at ${at}`,
      `gw: failover failover-held at ${at} (see clawguard incidents --agent gw)`,
    ]);
  });
});

describe("a Mattermost message", () => {
  it("makes what an agent wrote inert: no mention, link, image, emphasis, control or bidi character", async () => {
    const { mattermostMessage } = await import("./notify.ts");
    const message = mattermostMessage({
      id: "n1",
      status: "firing",
      alert: "gateway_down",
      severity: "P0",
      agent: "gw",
      role: "gateway",
      summary:
        "@channel @all [Log in to fix](http://evil.example/phish) ![x](http://evil/x.png) **now** \u202eKO\u001b[2K",
      startsAt: "2026-12-07T05:00:00.000Z",
    });
    const title = (message.attachments as { title: string }[])[0]?.title ?? "";
    expect(title).not.toMatch(/@(channel|all)\b/);
    expect(title).not.toMatch(/[^\\]\[Log in|[^\\]\]\(|!\[|[^\\]\*\*/);
    for (const c of ["\u202e", "\u001b"]) expect(title).not.toContain(c);
    expect(title).toContain("Log in to fix"); // still readable
  });

  it("the error rate counts 400s (overflow too), 5xx and no answer; not 401/403/407 nor 429", () => {
    const llm = {
      provider: "p",
      model: "m",
      calls: { "2xx": 80, "4xx": 16, "5xx": 3, none: 1 },
      errors: {
        overflow: 1,
        client_error: 2,
        server_error: 3,
        network: 1,
        auth: 4,
        intermediary: 2,
        rate_limited: 7,
        aborted: 1,
      },
      latency: { buckets: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 },
      ttft: { buckets: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 },
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
    };
    const s = sampleOf({ llm: [llm] } as unknown as Parameters<typeof sampleOf>[0], 0);
    expect(s).toMatchObject({ calls: 100, failed: 7, authFailed: 6 });
  });

  it("a resolution says what holds now, since when, and how long it was down", () => {
    const [down] = conditionsOf(
      agent({ agent: "gw1", state: "unhealthy", reasons: ["gateway: HTTP 200 (0 in a row)"] }),
      undefined,
      sample(0, 0),
      config,
    );
    if (!down) throw new Error("no condition");
    const since = Date.parse("2026-12-07T10:00:00Z");
    expect(resolvedSummary({ ...down, since }, since + 200_000)).toBe(
      "gateway gw1 is up again since 2026-12-07T10:03:20.000Z (down for 3 min 20 s)",
    );
    const [rate] = conditionsOf(agent(), sample(0, 0), sample(100, 50), config);
    if (!rate) throw new Error("no condition");
    expect(resolvedSummary({ ...rate, since }, since + 45_000)).toBe(
      "a: LLM error rate back under the threshold since 2026-12-07T10:00:45.000Z (firing for 45 s)",
    );
  });
});
