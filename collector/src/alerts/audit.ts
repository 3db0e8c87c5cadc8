import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { AuditStore } from "../store/audit-store.ts";
import type { InFlight } from "./in-flight.ts";

/** An audit record of the alerting (alert.firing, alert.resolved, alert.notified). */
export type OwnEvent = Parameters<AuditStore["recordOwn"]>[0][number];

/** Audit records of the alerting kept in memory while the store is down (the oldest go first). */
const MAX_UNRECORDED = 1000;

/**
 * Writes audit records of the alerting; those the store does not take are kept (the oldest
 * dropped past MAX_UNRECORDED, logged) and written at later evaluations, once it is back.
 */
export class AlertRecorder {
  readonly #store: AuditStore;
  readonly #log: Logger;
  readonly #inFlight: InFlight;
  /** Audit records the store did not take yet (bounded: MAX_UNRECORDED). */
  readonly #unrecorded: OwnEvent[] = [];
  #recording: Promise<void> | undefined;
  #storeDown = false;

  constructor(store: AuditStore, log: Logger, inFlight: InFlight) {
    this.#store = store;
    this.#log = log;
    this.#inFlight = inFlight;
  }

  /** Audit records waiting for the store. */
  get unrecorded(): number {
    return this.#unrecorded.length;
  }

  record(events: OwnEvent[]): void {
    this.#unrecorded.push(...events);
    const over = this.#unrecorded.length - MAX_UNRECORDED;
    if (over > 0) {
      this.#unrecorded.splice(0, over);
      this.#log.error("alert audit records dropped: the store has been down too long", { dropped: over });
    }
    this.flush();
  }

  /** One write at a time, in order; a failure keeps them all for the next evaluation's try. */
  flush(): void {
    if (this.#recording || this.#unrecorded.length === 0) return;
    const batch = this.#unrecorded.splice(0);
    const task = this.#store.recordOwn(batch).then(
      () => {
        if (this.#storeDown) this.#log.info("alert audit records written again", { count: batch.length });
        this.#storeDown = false;
      },
      (err) => {
        this.#unrecorded.unshift(...batch);
        const over = this.#unrecorded.length - MAX_UNRECORDED;
        if (over > 0) this.#unrecorded.splice(0, over);
        if (!this.#storeDown)
          this.#log.error("alert audit records not written, kept to write later", {
            pending: this.#unrecorded.length,
            error: describeError(err),
          });
        this.#storeDown = true;
      },
    );
    this.#recording = task;
    this.#inFlight.add(task);
    void task.finally(() => {
      this.#recording = undefined;
      if (!this.#storeDown) this.flush(); // what came in meanwhile
    });
  }
}
