import type { Family } from "./family.ts";

/** What a provider's answer says about the path to it, in classes a person can act on. */
export type OutcomeClass =
  | "ok"
  | "auth"
  | "intermediary"
  | "rate_limited"
  | "server_error"
  | "overflow"
  | "client_error"
  | "network";

export interface Classified {
  class: OutcomeClass;
  /** For auth and intermediary failures: what happened and what to check. */
  reason?: string;
}

/**
 * Tells a provider's own 401/403 from one an intermediary (a corporate proxy, a firewall, a
 * gateway) answered: the provider answers in its JSON error shape; a proxy answers with HTML or
 * text, says so in `server`/`via`, or uses 407.
 */
export function classify(
  providerId: string,
  family: Family,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): Classified {
  if (status < 400) return { class: "ok" };
  if (family.parseOverflow(status, body)) return { class: "overflow" };
  if (status === 401 || status === 403 || status === 407) {
    const json = providerJsonError(body);
    if (json && status !== 407) {
      return {
        class: "auth",
        reason: `${providerId}: the provider refused the credential (HTTP ${status}: ${json}); check the API key the agent sends${status === 403 ? " and its permissions for this model" : ""}`,
      };
    }
    const by = [header(headers.server), header(headers.via)].filter(Boolean).join(", ");
    const snippet = body
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, 120);
    return {
      class: "intermediary",
      reason: `${providerId}: HTTP ${status} from an intermediary${by ? ` (${by})` : ""}, not from the provider${snippet ? `: "${snippet}"` : ""}; check the egress proxy's allowlist and HTTPS_PROXY settings`,
    };
  }
  if (status === 429) return { class: "rate_limited" };
  if (status >= 500) return { class: "server_error" };
  return { class: "client_error" };
}

/** The message of a provider-shaped JSON error (OpenAI's and Anthropic's both nest `error`). */
function providerJsonError(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown; type?: unknown } };
    if (parsed && typeof parsed.error === "object" && parsed.error !== null) {
      const message = parsed.error.message ?? parsed.error.type;
      return typeof message === "string" ? message.slice(0, 200) : "error";
    }
  } catch {
    // Not JSON: not the provider.
  }
  return undefined;
}

function header(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value.join(", ") : value;
  return v.slice(0, 80);
}

export interface ProviderHealth {
  provider: string;
  api: string;
  /** `unknown` until a request or a check has been answered. */
  state: "ok" | "degraded" | "unknown";
  reasons: string[];
  /** By outcome of the answer's status, and beside it: `relay_failed`, answers that broke off after their headers. */
  counts: Partial<Record<OutcomeClass | "refused" | "trimmed" | "relay_failed", number>>;
  lastCheck?: { at: string; class: OutcomeClass; status?: number };
  /** cache-read input tokens / input tokens over the calls that reported usage. */
  promptCacheHitRatio?: number;
}

/** Per-provider health as the proxy and the credential checks see it. */
export class HealthBook {
  readonly #entries = new Map<string, ProviderHealth>();
  readonly #tokens = new Map<string, { input: number; cacheRead: number }>();

  constructor(providers: readonly { id: string; family: Family }[]) {
    for (const p of providers) {
      this.#entries.set(p.id, {
        provider: p.id,
        api: p.family.api,
        state: "unknown",
        reasons: [],
        counts: {},
      });
    }
  }

  /** Records an outcome; returns whether the provider's auth state changed (and to what). */
  record(providerId: string, outcome: Classified): "degraded" | "recovered" | undefined {
    const entry = this.#entries.get(providerId);
    if (!entry) return undefined;
    entry.counts[outcome.class] = (entry.counts[outcome.class] ?? 0) + 1;
    if (outcome.class === "auth" || outcome.class === "intermediary") {
      const reason = outcome.reason ?? outcome.class;
      const changed = entry.state !== "degraded" || entry.reasons[0] !== reason;
      entry.state = "degraded";
      entry.reasons = [reason];
      return changed ? "degraded" : undefined;
    }
    // Any answer from the provider itself shows the credential works (a 429 or 5xx included).
    if (outcome.class !== "network") {
      const was = entry.state;
      entry.state = "ok";
      entry.reasons = [];
      return was === "degraded" ? "recovered" : undefined;
    }
    return undefined;
  }

  count(providerId: string, what: "refused" | "trimmed" | "relay_failed"): void {
    const entry = this.#entries.get(providerId);
    if (entry) entry.counts[what] = (entry.counts[what] ?? 0) + 1;
  }

  tokens(providerId: string, input: number, cacheRead: number): void {
    const t = this.#tokens.get(providerId) ?? { input: 0, cacheRead: 0 };
    t.input += input;
    t.cacheRead += cacheRead;
    this.#tokens.set(providerId, t);
  }

  checked(providerId: string, outcome: Classified, status?: number): "degraded" | "recovered" | undefined {
    const entry = this.#entries.get(providerId);
    if (entry)
      entry.lastCheck = { at: new Date().toISOString(), class: outcome.class, ...(status ? { status } : {}) };
    return this.record(providerId, outcome);
  }

  report(): ProviderHealth[] {
    return [...this.#entries.values()].map((e) => {
      const t = this.#tokens.get(e.provider);
      return {
        ...e,
        counts: { ...e.counts },
        ...(t && t.input > 0 ? { promptCacheHitRatio: Number((t.cacheRead / t.input).toFixed(4)) } : {}),
      };
    });
  }
}
