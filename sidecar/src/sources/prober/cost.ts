import { type ProberConfig, probeIntervalMs } from "./config.ts";

/**
 * What one chat probe's turn costs in prompt tokens, measured with test/openclaw/probe.test.ts on
 * the real OpenClaw with its default tools and a gpt-4.1 provider (o200k counts): the first turn
 * of a session, and what each exchange already in the session adds to the next. Most of it is
 * OpenClaw's system prompt and tool schemas, which it sends on every turn; an agent with more
 * tools, skills or workspace files costs more.
 */
export interface MeasuredChatTurn {
  readonly openclaw: string;
  readonly firstTokens: number;
  readonly perTurnTokens: number;
}

export const MEASURED_CHAT_TURN: MeasuredChatTurn = Object.freeze({
  openclaw: "2026.9.6",
  firstTokens: 8859,
  perTurnTokens: 35,
});

export interface ChatProbeCost {
  name: string;
  probesPerHour: number;
  /** Prompt tokens of an average probe over a session of `sessionTurns` probes. */
  tokensPerProbe: number;
  tokensPerHour: number;
  /** The answer's cap, on top of the prompt. */
  maxOutputTokens: number;
}

/**
 * The token cost of each chat probe: a probe every `intervalMs`, its own or the prober's (at most:
 * the prober's interval runs from the end of one round to the start of the next), each carrying the exchanges of the session's
 * earlier probes, which start afresh every `sessionTurns` probes.
 */
export function chatProbeCosts(
  config: ProberConfig,
  measured: MeasuredChatTurn = MEASURED_CHAT_TURN,
): ChatProbeCost[] {
  return config.probes.flatMap((probe) => {
    if (probe.kind !== "chat") return [];
    const probesPerHour = 3_600_000 / probeIntervalMs(probe, config);
    const tokensPerProbe = measured.firstTokens + (measured.perTurnTokens * (probe.sessionTurns - 1)) / 2;
    return [
      {
        name: probe.name,
        probesPerHour,
        tokensPerProbe: Math.round(tokensPerProbe),
        tokensPerHour: Math.round(tokensPerProbe * probesPerHour),
        maxOutputTokens: probe.maxTokens,
      },
    ];
  });
}

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

/** One line a chat probe, for `--print-config` and `--check`. */
export function describeChatProbeCosts(
  config: ProberConfig,
  measured: MeasuredChatTurn = MEASURED_CHAT_TURN,
): string[] {
  return chatProbeCosts(config, measured).map(
    (c) =>
      `probe ${c.name} (chat): ~${thousands(c.tokensPerProbe)} prompt tokens a probe (plus up to ${c.maxOutputTokens} of answer) x ${thousands(c.probesPerHour)} probes an hour = ~${thousands(c.tokensPerHour)} tokens an hour (measured on OpenClaw ${measured.openclaw} with its default tools; more tools, skills or workspace files cost more)`,
  );
}
