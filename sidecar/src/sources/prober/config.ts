import { httpUrl, int, secretRef } from "@clawguard/shared/config/fields";
import { z } from "zod";

const common = {
  /** Names the probe in reasons and events. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected 1-63 chars of [A-Za-z0-9_.-]" }),
  /** critical: failing makes the agent unhealthy; degraded: failing makes it degraded. */
  severity: z.enum(["critical", "degraded"]).default("critical"),
  timeoutMs: int(100, 600_000).optional(),
  /**
   * How often this probe runs, when less often than every round (`probe.intervalMs`): a chat
   * probe's every turn costs the agent's whole prompt in tokens.
   */
  intervalMs: int(100, 86_400_000).optional(),
};

/** The real OpenClaw answers 200 with its Control UI page on unknown paths: check the body too. */
const httpProbe = z.strictObject({
  ...common,
  kind: z.literal("http"),
  url: httpUrl,
  expectStatus: int(100, 599).default(200),
  /** A substring the body must hold, or /a regex/. */
  expectBody: z.string().min(1).optional(),
  token: secretRef.optional(),
});

/**
 * A real message through the agent: OpenClaw's OpenAI-compatible endpoint, model openclaw/<agent>.
 * Every turn carries OpenClaw's whole system prompt and tool schemas, so the probes share one
 * session (the request's `user`, from which OpenClaw derives the session key) instead of opening
 * one each, and move to a fresh one every `sessionTurns` probes so that its history stays short.
 */
const chatProbe = z.strictObject({
  ...common,
  kind: z.literal("chat"),
  url: httpUrl,
  agent: z.string().min(1).default("main"),
  message: z.string().min(1).default("Reply with the single word: pong"),
  /** The answer's cap (`max_tokens`); a reasoning model may need more to say anything. */
  maxTokens: int(1, 1_000_000).default(64),
  /** The prefix of the `user` the probe sends: OpenClaw's session is agent:<agent>:openai-user:<user>. */
  session: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected 1-63 chars of [A-Za-z0-9_.-]" })
    .default("clawguard-probe"),
  /** Probes per session: its history grows by one exchange a probe until the next one starts. */
  sessionTurns: int(1, 100_000).default(50),
  token: secretRef.optional(),
  /**
   * Every 10 s unless set (each turn costs the agent's whole prompt in tokens): the prober's rounds
   * are 4 s for the cheap probes, which a chat probe need not follow.
   */
  intervalMs: int(100, 86_400_000).default(10_000),
});

const tcpProbe = z.strictObject({
  ...common,
  kind: z.literal("tcp"),
  host: z.string().min(1).default("127.0.0.1"),
  port: int(1, 65535),
});

const commandProbe = z.strictObject({
  ...common,
  kind: z.literal("command"),
  /** Exit code 0 passes; the last line of its output is the reason when it fails. */
  argv: z.array(z.string()).min(1),
});

export const probeConfig = z.discriminatedUnion("kind", [httpProbe, chatProbe, tcpProbe, commandProbe], {
  error: "expected kind: http, chat, tcp or command",
});

/**
 * The defaults put "gateway down" in Mattermost within 30 s of the gateway dying (the seed's
 * promise): a gateway that refuses connections fails 3 rounds in a row within 12 s of dying (3 x
 * 4 s), one that hangs within 21 s (3 x (4 s + 3 s)); the collector's next evaluation (5 s) sends it.
 * Three failures in a row (8 s of failing at least) keep one slow answer or a quick restart from
 * paging anyone.
 */
export const proberConfig = z
  .strictObject({
    intervalMs: int(100, 3_600_000).default(4_000),
    timeoutMs: int(100, 600_000).default(3_000),
    /** Failures in a row before a probe counts as failing. */
    failuresToFail: int(1, 100).default(3),
    /** Successes in a row before a failing probe counts as passing again. */
    successesToPass: int(1, 100).default(2),
    probes: z.array(probeConfig).default([]),
  })
  .prefault({});

export type ProberConfig = z.output<typeof proberConfig>;
export type ProbeConfig = z.output<typeof probeConfig>;

/** How often a probe runs: its own interval, but never more often than the prober's rounds. */
export function probeIntervalMs(probe: ProbeConfig, config: Pick<ProberConfig, "intervalMs">): number {
  return Math.max(probe.intervalMs ?? config.intervalMs, config.intervalMs);
}
