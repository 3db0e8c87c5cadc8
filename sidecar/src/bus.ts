import type { AuditEvent, EventDraft } from "@clawguard/shared/events/envelope";
import type { Spool } from "./sinks/spool/spool.ts";

export type EventListener = (events: readonly AuditEvent[]) => void;

/**
 * Sources publish drafts here. An event exists once the spool has sealed it into the chain and
 * written it; only then do the other sinks (traces, log) see it.
 */
export class EventBus {
  readonly #spool: Spool;
  readonly #listeners = new Set<EventListener>();

  constructor(spool: Spool) {
    this.#spool = spool;
  }

  async publish(drafts: EventDraft[]): Promise<AuditEvent[]> {
    const events = await this.#spool.append(drafts);
    for (const listener of this.#listeners) {
      try {
        listener(events);
      } catch {
        // A sink's failure must not fail the publisher: the event is already durable.
      }
    }
    return events;
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * For hot paths (one event per LLM call): drafts are collected and published in batches, one
 * spool write each, off the caller's path. Bounded: past `maxPending` a draft is dropped and
 * counted, never queued without end.
 */
export class BatchPublisher {
  readonly #bus: EventBus;
  readonly #maxPending: number;
  readonly #delayMs: number;
  readonly #onError: (err: unknown) => void;
  #pending: EventDraft[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  dropped = 0;

  constructor(
    bus: EventBus,
    options: { maxPending?: number; delayMs?: number; onError: (err: unknown) => void },
  ) {
    this.#bus = bus;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#delayMs = options.delayMs ?? 50;
    this.#onError = options.onError;
  }

  add(draft: EventDraft): void {
    if (this.#pending.length >= this.#maxPending) {
      this.dropped++;
      return;
    }
    this.#pending.push(draft);
    this.#timer ??= setTimeout(() => void this.flush(), this.#delayMs).unref();
  }

  /** Publishes what is pending; resolves once it (and every earlier batch) is written. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = this.#flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.#bus.publish(batch);
      } catch (err) {
        this.dropped += batch.length;
        this.#onError(err);
      }
    });
    return this.#flushing;
  }
}
