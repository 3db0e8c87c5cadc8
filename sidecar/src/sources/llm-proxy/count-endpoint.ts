import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "@clawguard/shared/log";
import { type Agent, request } from "../../http-client.ts";
import { injectedCredential, MAX_ERROR_BODY, readLimited } from "./http.ts";
import type { Provider } from "./providers.ts";

/** The fields Anthropic's count endpoint takes (it refuses max_tokens, stream and the rest). */
const ANTHROPIC_FIELDS = ["model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"];
const PASSED_HEADERS = ["authorization", "x-api-key", "anthropic-version", "anthropic-beta"];

/**
 * The provider's own count of a request's prompt, from its count endpoint (`countEndpoint` in the
 * provider's config), or undefined: none configured, a request it cannot count, an error, or no
 * answer within `timeoutMs`. Never throws: the guard then decides on its own count.
 */
export async function countByProvider(
  dispatcher: Agent,
  provider: Provider,
  body: Record<string, unknown>,
  incoming: IncomingHttpHeaders,
  log: Logger,
): Promise<number | undefined> {
  const endpoint = provider.countEndpoint;
  if (!endpoint) return undefined;
  const ask = endpoint.kind === "anthropic" ? anthropicAsk(provider, body) : vllmAsk(provider, body);
  if (!ask) return undefined;
  const headers: Record<string, string> = { "content-type": "application/json" };
  for (const name of PASSED_HEADERS) {
    const value = incoming[name];
    if (typeof value === "string") headers[name] = value;
  }
  if (provider.apiKey) {
    delete headers.authorization;
    delete headers["x-api-key"];
    Object.assign(headers, injectedCredential(provider));
  }
  if (endpoint.kind === "anthropic") headers["anthropic-version"] ??= "2023-06-01";
  const started = performance.now();
  try {
    const answer = await request(ask.url, {
      dispatcher,
      method: "POST",
      headers,
      body: JSON.stringify(ask.body),
      signal: AbortSignal.timeout(endpoint.timeoutMs),
    });
    const text = (await readLimited(answer.body, MAX_ERROR_BODY)).toString("utf8");
    const count = answer.statusCode === 200 ? ask.read(JSON.parse(text)) : undefined;
    if (count === undefined)
      log.info("provider count endpoint gave no count", { provider: provider.id, status: answer.statusCode });
    return count;
  } catch (err) {
    log.info("provider count endpoint not used", {
      provider: provider.id,
      after_ms: Math.round(performance.now() - started),
      error: (err as Error).message,
    });
    return undefined;
  }
}

interface Ask {
  url: URL;
  body: Record<string, unknown>;
  read(answer: unknown): number | undefined;
}

function anthropicAsk(provider: Provider, body: Record<string, unknown>): Ask | undefined {
  if (!Array.isArray(body.messages)) return undefined;
  const base = provider.upstream.pathname;
  const path = base.endsWith("/v1/") ? "messages/count_tokens" : "v1/messages/count_tokens";
  const ask: Record<string, unknown> = {};
  for (const field of ANTHROPIC_FIELDS) if (field in body) ask[field] = body[field];
  return {
    url: new URL(`${base}${path}`, provider.upstream.origin),
    body: ask,
    read: (answer) => positive((answer as { input_tokens?: unknown } | null)?.input_tokens),
  };
}

/** vLLM's /tokenize (at the server's root, beside /v1) applies the chat template as generation does. */
function vllmAsk(provider: Provider, body: Record<string, unknown>): Ask | undefined {
  if (!Array.isArray(body.messages)) return undefined;
  const ask: Record<string, unknown> = {
    model: body.model,
    messages: body.messages,
    add_generation_prompt: true,
  };
  if (Array.isArray(body.tools)) ask.tools = body.tools;
  return {
    url: new URL("/tokenize", provider.upstream.origin),
    body: ask,
    read: (answer) => positive((answer as { count?: unknown } | null)?.count),
  };
}

function positive(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
}
