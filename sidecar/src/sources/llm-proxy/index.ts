import type { EventSource } from "@clawguard/shared/events/envelope";
import type { RawHandler } from "@clawguard/shared/http/serve";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import type { Telemetry } from "@clawguard/shared/telemetry";
import { loadTokenizer } from "@clawguard/shared/tokens";
import { BatchPublisher, type EventBus } from "../../bus.ts";
import type { SpillStore } from "../exec-guard/spill.ts";
import { Calibration, type CalibrationEntry } from "./calibration.ts";
import type { LlmProxyConfig } from "./config.ts";
import type { ProviderHealth } from "./health.ts";
import { type Provider, resolveProviders } from "./providers.ts";
import { createLlmProxy, type LlmProxy } from "./proxy.ts";
import { LlmTelemetry } from "./telemetry.ts";
import { tokenizerFor, tokenizerSetting } from "./tokenizer.ts";

export type { ProviderHealth } from "./health.ts";

export interface LlmGuardOptions {
  config: LlmProxyConfig;
  env: NodeJS.ProcessEnv;
  spill: SpillStore;
  source: EventSource;
  bus: EventBus;
  telemetry: Telemetry;
  log: Logger;
  /** Where the token-count calibration is kept across restarts (none: in memory only). */
  calibrationFile?: string | undefined;
}

/**
 * Starts loading the vocabulary of every listed model's family in the background (Qwen, Llama and
 * DeepSeek: 1-4 s each, in a worker), so the first calls count exactly and the event loop's one wait
 * for building a BPE index falls at start rather than amid traffic.
 */
function warmTokenizers(providers: readonly Provider[]): void {
  for (const provider of providers) {
    for (const [id, limits] of provider.models) void loadTokenizer(id, limits.tokenizer);
  }
}

/**
 * The context guard as a sidecar component: the proxy under /llm/, its audit events (batched), and
 * the credential checks at start and on an interval. Providers are resolved in the constructor, so
 * a bad provider config stops the sidecar before it starts.
 */
export class LlmGuard implements Component {
  readonly id = "source.llm-proxy";
  readonly providers: readonly Provider[];
  readonly #proxy: LlmProxy;
  readonly #events: BatchPublisher;
  readonly #intervalMs: number;
  readonly #calibration: Calibration;
  #timer: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: LlmGuardOptions) {
    const skipped: string[] = [];
    this.providers = resolveProviders(options.config, options.env, skipped);
    for (const note of skipped) options.log.warn(`llm provider ${note}`);
    this.#intervalMs = options.config.authCheckIntervalMs;
    this.#events = new BatchPublisher(options.bus, {
      onError: (err) => options.log.error("llm events not recorded", { error: (err as Error).message }),
    });
    this.#calibration = new Calibration({ file: options.calibrationFile, log: options.log });
    this.#proxy = createLlmProxy({
      config: options.config,
      providers: this.providers,
      tokenizerFor: (model, requestBytes, provider) =>
        tokenizerFor(model, requestBytes, tokenizerSetting(provider, model)),
      calibration: this.#calibration,
      spill: options.spill,
      source: options.source,
      publish: (draft) => this.#events.add(draft),
      telemetry: new LlmTelemetry(options.telemetry),
      log: options.log,
    });
  }

  /** Serves /llm/...; passes everything else on. */
  readonly handler: RawHandler = (req, res) => {
    if (!req.url?.startsWith("/llm/")) return false;
    void this.#proxy.handle(req, res);
    return true;
  };

  async start(): Promise<void> {
    warmTokenizers(this.providers);
    if (this.#intervalMs === 0 || this.providers.length === 0) return;
    void this.#proxy.checkCredentials();
    this.#timer = setInterval(() => void this.#proxy.checkCredentials(), this.#intervalMs).unref();
  }

  /** Runs the credential checks now (what the interval does). */
  checkCredentials(): Promise<void> {
    return this.#proxy.checkCredentials();
  }

  /**
   * Each provider's health, and per provider and model the counter in use with its calibration:
   * the ratio of the provider's reported prompt tokens to the counter's, its error bound, samples.
   */
  health(): { providers: ProviderHealth[]; counters: CalibrationEntry[]; droppedEvents: number } {
    return {
      providers: this.#proxy.health(),
      counters: this.#calibration.entries(),
      droppedEvents: this.#events.dropped,
    };
  }

  stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    // The relays in flight are aborted first, so that their records are in the last flush.
    this.#stopped ??= this.#proxy.close().then(async () => {
      await new Promise((r) => setImmediate(r));
      await this.#events.flush();
      this.#calibration.flush();
    });
    return this.#stopped;
  }
}
