import type { ProbeConfig } from "./config.ts";

export type ChatProbe = Extract<ProbeConfig, { kind: "chat" }>;

/** What a chat probe remembers from one run to the next. */
export interface ChatMemory {
  /**
   * The provider's refusal of the agent's credential, as the probe said it, until the agent answers
   * again: after one, OpenClaw holds the credential back for a while (about a minute, longer when
   * it keeps failing) and answers HTTP 500 "internal error" without asking the provider.
   */
  providerRefusal?: string;
}

/**
 * The `user` of the probe's request, from which OpenClaw derives its session key
 * (`agent:<agent>:openai-user:<user>`): the same for every probe of one window of
 * `sessionTurns` intervals, then the next one, so a session holds at most about `sessionTurns`
 * exchanges. Taken from the clock rather than a counter, a restarted sidecar goes on with the
 * session of the window it is in instead of growing an old one again.
 */
export function chatSessionUser(probe: ChatProbe, intervalMs: number, now: number): string {
  const windowMs = probe.sessionTurns * intervalMs;
  return `${probe.session}-${probe.name}-${Math.floor(now / windowMs)}`;
}

/** The request body: the agent as the model, the probe's session, a short question, a small cap. */
export function chatRequest(probe: ChatProbe, user: string): Record<string, unknown> {
  return {
    model: `openclaw/${probe.agent}`,
    user,
    messages: [{ role: "user", content: probe.message }],
    max_tokens: probe.maxTokens,
  };
}

interface OpenAiError {
  error?: { message?: unknown; type?: unknown };
}

/** The OpenAI-shaped error of a body, when it is one. */
function errorOf(text: string): { message: string; type: string } | undefined {
  try {
    const error = (JSON.parse(text) as OpenAiError).error;
    if (!error || typeof error !== "object") return undefined;
    return {
      message: typeof error.message === "string" ? error.message : "",
      type: typeof error.type === "string" ? error.type : "",
    };
  } catch {
    return undefined;
  }
}

/**
 * OpenClaw relays a provider's 401 or 403 by what it makes of it (its failover reason): `auth` as
 * `authentication_error`, `auth_permanent` as `permission_error`, `billing` as `insufficient_quota`,
 * each with the provider's message; its own refusals are `unauthorized` (401, a wrong or missing
 * gateway token) and `forbidden` (403). Seen on OpenClaw 2026.9.6 (a provider's 401, a wrong
 * token) and read in its openai-compat-errors code (the others).
 */
const PROVIDER_REFUSALS = new Map([
  ["authentication_error", "the agent's provider rejected its credential"],
  ["permission_error", "the agent's provider rejected its credential"],
  ["insufficient_quota", "the agent's provider refused it for billing or quota"],
]);

/**
 * Why a non-200 answer of the chat endpoint failed the probe, worded for the person who has to act;
 * updates `memory` with a provider's refusal.
 */
export function chatFailure(
  probe: ChatProbe,
  status: number,
  text: string,
  memory: ChatMemory,
  snippet: (text: string) => string,
): string {
  const error = errorOf(text);
  const relayed = error && PROVIDER_REFUSALS.get(error.type);
  if ((status === 401 || status === 403) && error && relayed) {
    memory.providerRefusal = `${relayed}: ${error.message || error.type} (HTTP ${status})`;
    return memory.providerRefusal;
  }
  if (status === 401 || status === 403) {
    const said = error?.message ? `: ${error.message}` : "";
    return `the gateway refused the probe's token (HTTP ${status}${said}): check gateway.auth.token and probe.probes.${probe.name}.token`;
  }
  if (status === 404 || /^\s*</.test(text)) {
    return `no chat endpoint at ${probe.url} (HTTP ${status}): enable gateway.http.endpoints.chatCompletions.enabled`;
  }
  if (status === 500 && error?.message === "internal error" && memory.providerRefusal) {
    return `${memory.providerRefusal}; since then OpenClaw holds the credential back and answers HTTP 500 "internal error" until it tries it again`;
  }
  return `the agent did not answer: HTTP ${status} ${snippet(text)} (the reason is in the gateway log)`;
}

interface Completion {
  choices?: { message?: { content?: unknown }; finish_reason?: unknown }[];
}

/** OpenClaw's stand-in text when the agent's run produced none. */
const NO_RESPONSE = "No response from OpenClaw.";

/** Why a 200 answer is no answer, or undefined when the agent said something. */
export function chatAnswerProblem(
  probe: ChatProbe,
  text: string,
  snippet: (text: string) => string,
): string | undefined {
  let completion: Completion;
  try {
    completion = JSON.parse(text) as Completion;
  } catch {
    return `the chat endpoint answered 200 with something that is not JSON: ${snippet(text)}`;
  }
  const choice = completion.choices?.[0];
  const answer = choice?.message?.content;
  if (typeof answer === "string" && answer.trim() !== "" && answer.trim() !== NO_RESPONSE) return undefined;
  if (choice?.finish_reason === "length") {
    return `agent ${probe.agent} answered with no text within ${probe.maxTokens} tokens: raise probe.probes.${probe.name}.maxTokens (a reasoning model spends tokens before it answers)`;
  }
  return `agent ${probe.agent} answered with no text: ${snippet(text)}`;
}
