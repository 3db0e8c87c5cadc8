import { describe, expect, it } from "vitest";
import { proberConfig } from "./config.ts";
import { chatProbeCosts, describeChatProbeCosts, MEASURED_CHAT_TURN } from "./cost.ts";

const measured = { openclaw: "x", firstTokens: 10_000, perTurnTokens: 20 };

describe("chatProbeCosts", () => {
  it("averages a probe's prompt over a session of sessionTurns probes and multiplies by the probes an hour", () => {
    const config = proberConfig.parse({
      intervalMs: 10_000,
      probes: [
        { name: "ready", kind: "http", url: "http://127.0.0.1:1/readyz" },
        { name: "chat", kind: "chat", url: "http://127.0.0.1:1/v1/chat/completions" },
        { name: "fresh", kind: "chat", url: "http://127.0.0.1:1/v1/chat/completions", sessionTurns: 1 },
        { name: "slow", kind: "chat", url: "http://127.0.0.1:1/v1/chat/completions", intervalMs: 300_000 },
        { name: "fast", kind: "chat", url: "http://127.0.0.1:1/v1/chat/completions", intervalMs: 1000 },
      ],
    });
    // 50 turns: 10 000 + 20 * 49 / 2 = 10 490 a probe, 360 probes an hour.
    expect(chatProbeCosts(config, measured)).toEqual([
      {
        name: "chat",
        probesPerHour: 360,
        tokensPerProbe: 10_490,
        tokensPerHour: 3_776_400,
        maxOutputTokens: 64,
      },
      {
        name: "fresh",
        probesPerHour: 360,
        tokensPerProbe: 10_000,
        tokensPerHour: 3_600_000,
        maxOutputTokens: 64,
      },
      // Its own interval; never more often than the prober's rounds.
      {
        name: "slow",
        probesPerHour: 12,
        tokensPerProbe: 10_490,
        tokensPerHour: 125_880,
        maxOutputTokens: 64,
      },
      {
        name: "fast",
        probesPerHour: 360,
        tokensPerProbe: 10_490,
        tokensPerHour: 3_776_400,
        maxOutputTokens: 64,
      },
    ]);
    expect(describeChatProbeCosts(config, measured)[0]).toBe(
      "probe chat (chat): ~10,490 prompt tokens a probe (plus up to 64 of answer) x 360 probes an hour = ~3,776,400 tokens an hour (measured on OpenClaw x with its default tools; more tools, skills or workspace files cost more)",
    );
  });

  it("holds figures measured on the real OpenClaw (test/openclaw/probe.test.ts)", () => {
    expect(MEASURED_CHAT_TURN.firstTokens).toBeGreaterThan(1000);
    expect(MEASURED_CHAT_TURN.perTurnTokens).toBeGreaterThan(0);
  });
});
