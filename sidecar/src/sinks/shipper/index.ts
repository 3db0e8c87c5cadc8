import { appendFileSync, closeSync, openSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { describeError } from "@clawguard/shared/errors";
import { mkdirp } from "@clawguard/shared/fs-dirs";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { isoTime } from "@clawguard/shared/time";
import { Agent, request } from "../../http-client.ts";
import { Backoff, DeliveryFailure, failureOf, outcomeOf, retryAfterMs } from "../delivery.ts";
import { IDLE_POLL_MS, Pause } from "../pause.ts";
import type { Spool, SpooledEvent } from "../spool/spool.ts";

export interface ShipperOptions {
  url: string;
  token: string;
  spool: Spool;
  /** Where events the collector rejected for good are kept (JSON lines), so nothing is dropped silently. */
  deadLetterFile: string;
  batchMaxEvents: number;
  batchMaxBytes: number;
  timeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Told of each set of events put in the dead-letter file (the sidecar makes it an event). */
  onDeadLetter?: (entries: readonly DeadLetter[]) => void;
  log: Logger;
}

/** The type of the event that reports events set aside in the dead-letter file. */
export const DEAD_LETTERED = "shipper.dead_lettered";

/** An event the collector rejected for good, as the dead-letter file keeps it. */
export interface DeadLetter {
  id: string | undefined;
  type: string | undefined;
  errors: string[];
}

export type ShipperState = "idle" | "shipping" | "retrying" | "auth_failed" | "stopped";

export interface ShipperStatus {
  state: ShipperState;
  lastError?: string;
  shipped: number;
  /** Events in the dead-letter file (from earlier runs too). */
  rejected: number;
  lastShippedAt?: string;
  /** Since when every attempt has failed (unset while shipping works). */
  failingSince?: string;
}

interface IngestResult {
  id: string;
  status: "accepted" | "duplicate" | "rejected";
  errors?: string[];
}

/**
 * Ships the spool to the collector in order, in batches, retrying as the delivery policy says
 * (../delivery.ts: what is retried, Retry-After, backoff with jitter, the cap); acknowledges — and
 * so lets the spool delete — only what the collector answered for. A batch the collector refuses
 * as a whole is split until the one bad event is found and set aside in the dead-letter file.
 */
export class Shipper implements Component {
  readonly id = "sink.shipper";
  readonly #o: ShipperOptions;
  readonly #agent: Agent;
  readonly #status: ShipperStatus = { state: "idle", shipped: 0, rejected: 0 };
  #loop: Promise<void> | undefined;
  #stopped = false;
  readonly #pause = new Pause();
  #unsubscribe: (() => void) | undefined;
  #abort = new AbortController();
  /** Events in the POST in flight (0: none), for the record when a stop aborts it. */
  #posting = 0;

  constructor(options: ShipperOptions) {
    this.#o = options;
    this.#agent = new Agent({ keepAliveTimeout: 30_000, connections: 2 });
    this.#status.rejected = countLines(options.deadLetterFile);
  }

  get status(): Readonly<ShipperStatus> {
    return { ...this.#status };
  }

  async start(): Promise<void> {
    // New events wake a shipper that is idle, or shipping (its read may have missed them: the wake
    // ends its next wait); one backing off from a failing collector waits its turn (re-reading and
    // re-sending on every append would only hammer a collector that is down).
    this.#unsubscribe = this.#o.spool.onAppend(() => {
      if (this.#status.state === "idle" || this.#status.state === "shipping") this.#pause.wake();
    });
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const backoff = new Backoff(this.#o);
    let unreachable = false;
    while (!this.#stopped) {
      // While the collector cannot be reached, a cheap probe comes first: reading (and checking)
      // a batch from disk for every attempt would cost the sidecar CPU for nothing.
      if (unreachable && !(await this.#reachable())) {
        this.#status.state = "retrying";
        await this.#pause.for(backoff.next({ outcome: "unreachable" }));
        continue;
      }
      const events = await this.#o.spool.read(
        this.#o.spool.acked.seq,
        this.#o.batchMaxEvents,
        this.#o.batchMaxBytes,
      );
      if (events.length === 0) {
        this.#status.state = "idle";
        // New events wake it (onAppend): the timeout is only a safety net, long at rest.
        await this.#pause.for(IDLE_POLL_MS);
        continue;
      }
      try {
        this.#status.state = "shipping";
        await this.#ship(events);
        backoff.reset();
        unreachable = false;
      } catch (err) {
        if (this.#stopped) break;
        const failure = failureOf(err);
        unreachable = failure.outcome === "unreachable";
        this.#status.state = failure.outcome === "auth" ? "auth_failed" : "retrying";
        this.#status.lastError = describeError(err);
        this.#status.failingSince ??= isoTime(new Date());
        const wait = backoff.next(failure);
        this.#o.log.warn("shipper: collector not reachable, events stay in the spool", {
          error: this.#status.lastError,
          backlog: this.#o.spool.backlog,
          retryInMs: wait,
        });
        await this.#pause.for(wait);
      }
    }
  }

  /** Sends events; on success every one of them is acknowledged. Splits on a whole-batch refusal. */
  async #ship(events: SpooledEvent[]): Promise<void> {
    const { status, body, retryAfterMs } = await this.#post(events);
    const outcome = outcomeOf(status);
    if (outcome === "delivered") {
      const results = (body as { results?: IngestResult[] }).results ?? [];
      const rejected = results.filter((r) => r.status === "rejected");
      if (rejected.length > 0) {
        const byId = new Map(events.map((e) => [e.id, e]));
        this.#deadLetter(rejected.map((r) => ({ event: byId.get(r.id)?.json, errors: r.errors })));
      }
      this.#acknowledge(events);
      return;
    }
    if (outcome === "refused") {
      if (events.length === 1) {
        this.#deadLetter([{ event: events[0]?.json, errors: [`HTTP ${status}: ${errorText(body)}`] }]);
        this.#acknowledge(events);
        return;
      }
      const half = Math.ceil(events.length / 2);
      await this.#ship(events.slice(0, half));
      await this.#ship(events.slice(half));
      return;
    }
    const said =
      outcome === "auth"
        ? "the collector refused this sidecar's token"
        : outcome === "busy"
          ? "collector busy"
          : "collector answered";
    throw new DeliveryFailure(outcome, `${said} (HTTP ${status}): ${errorText(body)}`, retryAfterMs);
  }

  async #post(
    events: SpooledEvent[],
  ): Promise<{ status: number; body: unknown; retryAfterMs: number | undefined }> {
    const payload = `{"events":[${events.map((e) => e.json).join(",")}]}`;
    let response: Awaited<ReturnType<typeof request>>;
    this.#posting = events.length;
    try {
      response = await request(new URL("/v1/events", this.#o.url), {
        method: "POST",
        dispatcher: this.#agent,
        headers: { authorization: `Bearer ${this.#o.token}`, "content-type": "application/json" },
        body: payload,
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
        signal: this.#abort.signal,
      });
    } catch (err) {
      throw new DeliveryFailure(
        "unreachable",
        `cannot reach ${this.#o.url}: ${describeError(err)}`,
        undefined,
        err,
      );
    } finally {
      this.#posting = 0;
    }
    const text = await response.body.text().catch(() => "");
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): keep the text for the message.
    }
    return { status: response.statusCode, body, retryAfterMs: retryAfterMs(response.headers["retry-after"]) };
  }

  #acknowledge(events: SpooledEvent[]): void {
    const last = events[events.length - 1] as SpooledEvent;
    void this.#o.spool.ack({ seq: last.seq, hash: last.hash });
    this.#status.shipped += events.length;
    this.#status.lastShippedAt = isoTime(new Date());
    delete this.#status.lastError;
    delete this.#status.failingSince;
  }

  #deadLetter(entries: { event: string | undefined; errors: string[] | undefined }[]): void {
    mkdirp(dirname(this.#o.deadLetterFile));
    const lines = entries.map((e) =>
      JSON.stringify({
        at: isoTime(new Date()),
        errors: e.errors,
        event: e.event ? JSON.parse(e.event) : null,
      }),
    );
    appendFileSync(this.#o.deadLetterFile, `${lines.join("\n")}\n`, { mode: 0o600 });
    this.#status.rejected += entries.length;
    const letters = entries.map((e): DeadLetter => {
      const event = e.event ? (JSON.parse(e.event) as { id?: unknown; type?: unknown }) : {};
      return {
        id: typeof event.id === "string" ? event.id : undefined,
        type: typeof event.type === "string" ? event.type : undefined,
        errors: e.errors ?? [],
      };
    });
    try {
      this.#o.onDeadLetter?.(letters);
    } catch {
      // Reporting must not stop shipping: the file has them.
    }
    this.#o.log.error("shipper: the collector rejected events; kept in the dead-letter file", {
      count: entries.length,
      file: this.#o.deadLetterFile,
      errors: entries.flatMap((e) => e.errors ?? []).slice(0, 3),
    });
  }

  /** Whether the collector answers at all (any HTTP status). */
  async #reachable(): Promise<boolean> {
    try {
      const response = await request(new URL("/healthz", this.#o.url), {
        dispatcher: this.#agent,
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
        signal: this.#abort.signal,
      });
      await response.body.dump();
      return true;
    } catch {
      return false;
    }
  }

  /** Waits until everything spooled so far is acknowledged, or the timeout passes. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#o.spool.backlog > 0 && Date.now() < deadline && !this.#stopped) {
      this.#pause.wake();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#o.spool.backlog === 0;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#status.state = "stopped";
    this.#unsubscribe?.();
    if (this.#posting > 0)
      this.#o.log.info("shipping aborted: the sidecar is stopping; the events stay in the spool", {
        events: this.#posting,
      });
    this.#abort.abort();
    this.#pause.wake();
    await this.#loop?.catch(() => {});
    await this.#agent.destroy().catch(() => {});
  }
}

/** Lines in a file (0 when it does not exist), read in chunks: the dead-letter file may be large. */
function countLines(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return 0;
  }
  try {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let lines = 0;
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) {
      for (let i = chunk.indexOf(10); i !== -1 && i < n; i = chunk.indexOf(10, i + 1)) lines++;
    }
    return lines;
  } finally {
    closeSync(fd);
  }
}

function errorText(body: unknown): string {
  if (typeof body === "string") return body.slice(0, 200) || "(empty body)";
  const error = (body as { error?: { message?: string } })?.error;
  return error?.message ?? JSON.stringify(body).slice(0, 200);
}
