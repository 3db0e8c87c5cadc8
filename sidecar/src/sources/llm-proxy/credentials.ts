import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "@clawguard/shared/log";
import { type Agent, request } from "../../http-client.ts";
import { classify, type HealthBook } from "./health.ts";
import { injectedCredential, MAX_ERROR_BODY, readLimited } from "./http.ts";
import type { Provider } from "./providers.ts";

const KEPT_HEADERS = [
  "authorization",
  "x-api-key",
  "anthropic-version",
  "openai-organization",
  "openai-project",
];

/**
 * A cheap authenticated request per provider (its model list): a key that stopped working shows
 * before the agent's next turn fails. Uses the configured key, else the last one the agent sent
 * (kept in memory only).
 */
export function createCredentialChecks(deps: {
  dispatcher: Agent;
  health: HealthBook;
  providers: readonly Provider[];
  event(type: string, severity: "info" | "error", attrs: Record<string, unknown>): void;
  log: Logger;
}) {
  const seen = new Map<string, Record<string, string>>();

  /** Keeps the credential headers of a call that worked (a copy only when they changed: every call). */
  function remember(provider: Provider, headers: IncomingHttpHeaders): void {
    if (provider.apiKey || unchanged(seen.get(provider.id), headers)) return;
    const kept: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = headers[name];
      if (typeof value === "string") kept[name] = value;
    }
    if (kept.authorization || kept["x-api-key"]) seen.set(provider.id, kept);
  }

  function unchanged(kept: Record<string, string> | undefined, headers: IncomingHttpHeaders): boolean {
    if (!kept) return false;
    for (const name of KEPT_HEADERS) if (kept[name] !== headers[name]) return false;
    return true;
  }

  async function checkOne(provider: Provider): Promise<void> {
    const headers = provider.apiKey ? injectedCredential(provider) : seen.get(provider.id);
    if (!headers) return;
    const family = provider.family;
    const anthropic = family.api === "anthropic-messages";
    const path = anthropic && !provider.upstream.pathname.endsWith("/v1/") ? "v1/models" : "models";
    const target = new URL(`${provider.upstream.pathname}${path}`, provider.upstream.origin);
    try {
      const answer = await request(target, {
        dispatcher: deps.dispatcher,
        method: "GET",
        headers: {
          ...headers,
          ...(anthropic ? { "anthropic-version": headers["anthropic-version"] ?? "2023-06-01" } : {}),
        },
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = (await readLimited(answer.body, MAX_ERROR_BODY)).toString("utf8");
      const outcome = classify(provider.id, family, answer.statusCode, answer.headers, text);
      const change = deps.health.checked(provider.id, outcome, answer.statusCode);
      if (change === "degraded") {
        deps.event("llm.auth_failed", "error", {
          provider: provider.id,
          api: family.api,
          class: outcome.class,
          status: answer.statusCode,
          reason: outcome.reason ?? null,
          check: true,
        });
      } else if (change === "recovered")
        deps.event("llm.auth_recovered", "info", { provider: provider.id, check: true });
    } catch (err) {
      deps.health.checked(provider.id, { class: "network" });
      deps.log.warn("credential check failed", { provider: provider.id, error: (err as Error).message });
    }
  }

  return {
    remember,
    check: async (): Promise<void> => {
      await Promise.all(deps.providers.map(checkOne));
    },
  };
}
