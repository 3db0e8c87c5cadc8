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
