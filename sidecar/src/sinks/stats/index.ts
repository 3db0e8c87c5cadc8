import type { AuditEvent } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import {
  emptyHistogram,
  errorClassOf,
  type LlmSeries,
  MAX_LLM_SERIES,
  MAX_MEMORY_FILES,
  OTHER_MODEL,
  observe,
  type SidecarStats,
  statusClassOf,
} from "@clawguard/shared/stats";
import type { EventBus } from "../../bus.ts";

export interface StatsSources {
  spool: { readonly backlog: number; readonly bytes: number; readonly quarantined: readonly unknown[] };
  shipper: { readonly status: { rejected: number; failingSince?: string } };
  /** The memory watcher's reasons: one per file over its limit. */
  memory?: { reasons(): string[] };
}

/**
 * Counts what the collector's /metrics shows for this agent, from the events on the bus (each LLM
 * call's `llm.request`, each exec's outcome, memory changes) and the spool's and shipper's state:
 * one source of truth, the audit events, and nothing counted on the hot path beyond a few adds.
 * Sent in every heartbeat (see @clawguard/shared/stats).
 */
export class StatsSink implements Component {
  readonly id = "sink.stats";
  readonly #bus: EventBus;
  readonly #sources: StatsSources;
  readonly #llm = new Map<string, LlmSeries>();
  readonly #exec = { runs: 0, spills: 0, denials: 0, failures: 0 };
  readonly #memory = new Map<string, number>();
  #unsubscribe: (() => void) | undefined;

  constructor(bus: EventBus, sources: StatsSources) {
    this.#bus = bus;
    this.#sources = sources;
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#bus.subscribe((events) => {
      for (const event of events) this.count(event);
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Counts one event (public for tests that feed events without a spool). */
  count(event: AuditEvent): void {
    const a = event.attrs;
    if (event.type === "llm.request") this.#countLlm(a);
    else if (event.type === "exec.completed") {
      this.#exec.runs++;
      if (a.spilled === true) this.#exec.spills++;
    } else if (event.type === "exec.denied") this.#exec.denials++;
    else if (event.type === "exec.failed") this.#exec.failures++;
    else if (event.type === "memory.changed" && typeof a.path === "string" && typeof a.size === "number") {
      if (a.change === "deleted") this.#memory.delete(a.path);
      else if (this.#memory.has(a.path) || this.#memory.size < MAX_MEMORY_FILES)
        this.#memory.set(a.path, a.size);
    }
  }

  #series(provider: string, model: string): LlmSeries {
    let key = `${provider}\0${model}`;
    let series = this.#llm.get(key);
    if (series) return series;
    if (this.#llm.size >= MAX_LLM_SERIES - 1) {
      // The last slot is one "other" for every provider and model beyond, so any number of them
      // stays within the bound (one per provider went over it, and the collector refused the heartbeat).
      key = `${OTHER_MODEL}\0${OTHER_MODEL}`;
      series = this.#llm.get(key);
      if (series) return series;
      provider = OTHER_MODEL;
      model = OTHER_MODEL;
    }
    series = {
      provider,
      model,
      calls: {},
      errors: {},
      latency: emptyHistogram(),
      ttft: emptyHistogram(),
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
    };
    this.#llm.set(key, series);
    return series;
  }

  #countLlm(a: Record<string, unknown>): void {
    const provider = typeof a.provider === "string" ? a.provider.slice(0, 64) : "unknown";
    const model = typeof a.model === "string" && a.model !== "" ? a.model.slice(0, 128) : "unknown";
    const s = this.#series(provider, model);
    const status = statusClassOf(typeof a.status === "number" ? a.status : null);
    s.calls[status] = (s.calls[status] ?? 0) + 1;
    if (typeof a.error_type === "string") {
      const cls = errorClassOf(a.error_type);
      s.errors[cls] = (s.errors[cls] ?? 0) + 1;
    }
    if (typeof a.duration_ms === "number") observe(s.latency, a.duration_ms / 1000);
    if (a.stream === true && typeof a.ttft_ms === "number") observe(s.ttft, a.ttft_ms / 1000);
    if (typeof a.input_tokens === "number") s.inputTokens += a.input_tokens;
    if (typeof a.output_tokens === "number") s.outputTokens += a.output_tokens;
    if (typeof a.cache_read_tokens === "number") s.cacheReadTokens += a.cache_read_tokens;
  }

  /** The stats as of now, for the next heartbeat (a copy: the heartbeat may be serialised later). */
  snapshot(now = Date.now()): SidecarStats {
    const { spool, shipper } = this.#sources;
    const failing = shipper.status.failingSince ? Date.parse(shipper.status.failingSince) : Number.NaN;
    return {
      spoolBacklog: spool.backlog,
      spoolBytes: spool.bytes,
      setAside: shipper.status.rejected + spool.quarantined.length,
      shipperFailingSeconds: Number.isNaN(failing) ? 0 : Math.max(0, Math.round((now - failing) / 1000)),
      exec: { ...this.#exec },
      memoryOversize: this.#sources.memory?.reasons().length ?? 0,
      memoryBytes: Object.fromEntries(this.#memory),
      llm: structuredClone([...this.#llm.values()]),
    };
  }
}
