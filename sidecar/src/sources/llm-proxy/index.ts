import { statSync } from "node:fs";
import type { EventSource } from "@clawguard/shared/events/envelope";
import type { RawHandler } from "@clawguard/shared/http/serve";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import type { Telemetry } from "@clawguard/shared/telemetry";
import { loadTokenizer } from "@clawguard/shared/tokens";
import { BatchPublisher, type EventBus } from "../../bus.ts";
import { openclawConfigPending } from "../../openclaw-file.ts";
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

/** Providers resolved, and what is wrong in openclaw.json (its providers unguarded until it changes). */
interface Resolved {
  providers: Provider[];
  openclawProblem?: string;
}

const mtimeOf = (file: string | undefined): number | undefined => {
  try {
    return file === undefined ? undefined : statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
};

/** How often a sidecar waiting for openclaw.json looks for it. */
const WAIT_POLL_MS = 1000;

/**
 * The context guard as a sidecar component: the proxy under /llm/, its audit events (batched), and
 * the credential checks at start and on an interval. Providers are resolved in the constructor, so
 * a bad provider config stops the sidecar before it starts. An openclaw.json not there yet (OpenClaw
 * writes it at its first start) is waited for instead: its providers are guarded once it is there,
 * and meanwhile `reasons()` says why they are not.
 */
export class LlmGuard implements Component {
  readonly id = "source.llm-proxy";
  readonly #o: LlmGuardOptions;
  #providers: readonly Provider[];
  #proxy: LlmProxy;
  /** Proxies replaced when openclaw.json appeared: closed at stop, with their relays. */
  readonly #retired: LlmProxy[] = [];
  readonly #events: BatchPublisher;
  readonly #intervalMs: number;
  readonly #calibration: Calibration;
  #timer: NodeJS.Timeout | undefined;
  #waiting: NodeJS.Timeout | undefined;
  /** Why openclaw.json's providers are not guarded yet; the file's mtime when it failed to load. */
  #pending: { reason: string; failedMtimeMs?: number } | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: LlmGuardOptions) {
    this.#o = options;
    const { providers, openclawProblem } = this.#resolve();
    this.#providers = providers;
    const file = options.config.openclawConfig;
    if (openclawConfigPending(file)) {
      this.#pending = {
        reason: `${file} is not there yet (OpenClaw writes it at its first start): the LLM providers it lists are not guarded until it is`,
      };
      options.log.warn("waiting for openclaw.json", { file });
    } else if (openclawProblem) {
      this.#pending = { reason: openclawProblem, failedMtimeMs: mtimeOf(file) };
      options.log.error("openclaw.json is there but its providers cannot be guarded", {
        file,
        error: openclawProblem,
      });
    }
    this.#intervalMs = options.config.authCheckIntervalMs;
    this.#events = new BatchPublisher(options.bus, {
      onError: (err) => options.log.error("llm events not recorded", { error: (err as Error).message }),
    });
    this.#calibration = new Calibration({ file: options.calibrationFile, log: options.log });
    this.#proxy = this.#createProxy(this.#providers);
  }

  get providers(): readonly Provider[] {
    return this.#providers;
  }

  /** The providers, and what is wrong in openclaw.json (its providers then go unguarded until it changes). */
  #resolve(): Resolved {
    const skipped: string[] = [];
    const wrong: string[] = [];
    const providers = resolveProviders(this.#o.config, this.#o.env, skipped, wrong);
    for (const note of skipped) this.#o.log.warn(`llm provider ${note}`);
    if (wrong.length === 0) return { providers };
    return {
      providers,
      openclawProblem: `${this.#o.config.openclawConfig}: ${wrong.join("; ")}: those providers are not guarded until it is fixed`,
    };
  }

  #createProxy(providers: readonly Provider[]): LlmProxy {
    const o = this.#o;
    return createLlmProxy({
      config: o.config,
      providers,
      tokenizerFor: (model, requestBytes, provider) =>
        tokenizerFor(model, requestBytes, tokenizerSetting(provider, model)),
      calibration: this.#calibration,
      spill: o.spill,
      source: o.source,
      publish: (draft) => this.#events.add(draft),
      telemetry: new LlmTelemetry(o.telemetry),
      log: o.log,
    });
  }

  /** Serves /llm/...; passes everything else on. */
  readonly handler: RawHandler = (req, res) => {
    if (!req.url?.startsWith("/llm/")) return false;
    void this.#proxy.handle(req, res);
    return true;
  };

  async start(): Promise<void> {
    if (this.#pending) this.#waiting = setInterval(() => this.#reload(), WAIT_POLL_MS).unref();
    this.#guard();
  }

  /** Loads the providers' vocabularies and starts the credential checks, once there are providers. */
  #guard(): void {
    warmTokenizers(this.#providers);
    if (this.#intervalMs === 0 || this.#providers.length === 0 || this.#timer) return;
    void this.#proxy.checkCredentials();
    this.#timer = setInterval(() => void this.#proxy.checkCredentials(), this.#intervalMs).unref();
  }

  /**
   * openclaw.json appeared: its providers are resolved and a proxy with them takes the next
   * requests. One that does not load is reported (a reason, a log line) and tried again when it
   * changes.
   */
  #reload(): void {
    const file = this.#o.config.openclawConfig;
    if (!this.#pending || this.#stopped || openclawConfigPending(file)) return;
    const mtimeMs = mtimeOf(file);
    if (mtimeMs !== undefined && mtimeMs === this.#pending.failedMtimeMs) return;
    let resolved: Resolved;
    try {
      resolved = this.#resolve();
    } catch (err) {
      // The sidecar's own config is wrong with it (a provider it names has no URL there either).
      resolved = { providers: [...this.#providers], openclawProblem: (err as Error).message };
    }
    const { providers, openclawProblem } = resolved;
    if (openclawProblem) {
      // Tried again when the file changes; the providers that did resolve are guarded meanwhile.
      this.#pending = { reason: openclawProblem, failedMtimeMs: mtimeMs };
      this.#o.log.error("openclaw.json is there but its providers cannot be guarded", {
        file,
        error: openclawProblem,
      });
    } else {
      clearInterval(this.#waiting);
      this.#waiting = undefined;
      this.#pending = undefined;
    }
    this.#retired.push(this.#proxy);
    this.#providers = providers;
    this.#proxy = this.#createProxy(providers);
    this.#o.log.info(
      openclawProblem
        ? "openclaw.json changed: the providers it lists that resolve are guarded"
        : "openclaw.json is there: its providers are guarded",
      {
        file,
        providers: providers.map((p) => p.id),
      },
    );
    this.#guard();
  }

  /** Why providers are not guarded (openclaw.json not there yet, or not loadable): the agent is degraded. */
  reasons(): string[] {
    return this.#pending ? [this.#pending.reason] : [];
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
    if (this.#waiting) clearInterval(this.#waiting);
    this.#timer = undefined;
    this.#waiting = undefined;
    // The relays in flight are aborted first, so that their records are in the last flush.
    this.#stopped ??= Promise.all([this.#proxy, ...this.#retired].map((p) => p.close())).then(async () => {
      await new Promise((r) => setImmediate(r));
      await this.#events.flush();
      await this.#calibration.flush();
    });
    return this.#stopped;
  }
}
