import type { EventDraft, EventSource } from "@clawguard/shared/events/envelope";
import { draftEvent } from "@clawguard/shared/events/envelope";
import type { Logger } from "@clawguard/shared/log";
import { Agent } from "../../http-client.ts";
import type { SpillStore } from "../exec-guard/spill.ts";
import type { Calibration } from "./calibration.ts";
import type { LlmProxyConfig } from "./config.ts";
import { countByProvider } from "./count-endpoint.ts";
import { createCredentialChecks } from "./credentials.ts";
import { createGuard, type Guard, type Tokenizer } from "./guard.ts";
import { GuardWorker } from "./guard-pool.ts";
import { type Classified, HealthBook } from "./health.ts";
import { BodyBudget } from "./http.ts";
import type { Provider } from "./providers.ts";
import type { LlmTelemetry } from "./telemetry.ts";
import { estimateFor, tokenizerSetting } from "./tokenizer.ts";

export interface LlmProxyDeps {
  config: LlmProxyConfig;
  providers: readonly Provider[];
  /** How to count a request for `model` of `requestBytes` on `provider` (its `tokenizer:` setting wins). */
  tokenizerFor(model: string, requestBytes: number, provider: Provider): Tokenizer;
  calibration: Calibration;
  spill: SpillStore;
  source: EventSource;
  /** Hands an audit event over for delivery; must not block the call. */
  publish(draft: EventDraft): void;
  telemetry: LlmTelemetry;
  log: Logger;
}

/**
 * What every step of a call (route, guard, dispatch, relay, finish) shares, built once per proxy:
 * the providers, their health, the upstream connection pool, the guard and its worker, the
 * credential checks, and the audit events.
 */
export class ProxyContext {
  readonly deps: LlmProxyDeps;
  readonly config: LlmProxyConfig;
  readonly log: Logger;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly health: HealthBook;
  readonly dispatcher: Agent;
  readonly guard: Guard;
  readonly worker: GuardWorker;
  /** Request bodies being received at once, across all calls. */
  readonly bodies: BodyBudget;
  readonly credentials: ReturnType<typeof createCredentialChecks>;
  /** The events' source, its keys in sorted order (the chain's canonical form then copies nothing). */
  readonly #source: EventSource;
  /** Calls finished with a calibration sample to take (one in twenty is counted after the call). */
  sampled = 0;

  constructor(deps: LlmProxyDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.log = deps.log;
    const { agent, host, role } = deps.source;
    this.#source = { agent, host, role };
    this.providers = new Map(deps.providers.map((p) => [p.id, p]));
    this.health = new HealthBook(deps.providers);
    this.dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 512 });
    const event = this.event.bind(this);
    const dispatcher = this.dispatcher;
    // First: the guard trims big requests' overflow retries in it, where they were guarded.
    this.worker = new GuardWorker(deps.log);
    this.guard = createGuard({
      config: deps.config,
      tokenizerFor: deps.tokenizerFor,
      estimateFor: (model, provider) => estimateFor(model, tokenizerSetting(provider, model)),
      calibration: deps.calibration,
      spill: deps.spill,
      agent: deps.source.agent,
      countByProvider: (provider, body, headers) =>
        countByProvider(dispatcher, provider, body, headers, deps.log),
      event,
      counted: (provider, what) => this.health.count(provider.id, what),
      away: this.worker,
      log: deps.log,
    });
    this.bodies = new BodyBudget(deps.config.maxPendingBodyBytes);
    this.credentials = createCredentialChecks({
      dispatcher,
      health: this.health,
      providers: deps.providers,
      event,
      log: deps.log,
    });
  }

  event(type: string, severity: EventDraft["severity"], attrs: Record<string, unknown>): void {
    this.deps.publish(draftEvent({ source: this.#source, type, severity, attrs }));
  }

  /** A call's outcome in its provider's health; a change to degraded or back is an audit event. */
  noteOutcome(provider: Provider, outcome: Classified, status?: number): void {
    const change = this.health.record(provider.id, outcome);
    if (change === "degraded") {
      this.log.warn("provider degraded", { provider: provider.id, reason: outcome.reason });
      this.event("llm.auth_failed", "error", {
        provider: provider.id,
        api: provider.family.api,
        class: outcome.class,
        status: status ?? null,
        reason: outcome.reason ?? null,
      });
    } else if (change === "recovered") {
      this.event("llm.auth_recovered", "info", { provider: provider.id, api: provider.family.api });
    }
  }

  /** Aborts the relays still in flight (each is recorded as it ends), then closes. */
  async close(): Promise<void> {
    await this.dispatcher.destroy();
    await this.worker.close();
  }
}
