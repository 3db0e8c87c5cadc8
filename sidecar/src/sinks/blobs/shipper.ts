import { describeError } from "@clawguard/shared/errors";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { Agent, request } from "../../http-client.ts";
import { Backoff, DeliveryFailure, type Failure, failureOf, outcomeOf, retryAfterMs } from "../delivery.ts";
import { IDLE_POLL_MS, Pause } from "../pause.ts";
import type { BlobStore } from "./store.ts";

export interface BlobShipperOptions {
  /** The collector's base URL and this sidecar's ingest token (the event shipper's). */
  url: string;
  token: string;
  store: BlobStore;
  timeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  log: Logger;
}

export interface BlobShipperStatus {
  pending: number;
  shipped: number;
  rejected: number;
  lastError?: string;
}

/**
 * Uploads memory file contents to the collector (`PUT /v1/blobs/:sha256`, skipped when `HEAD`
 * says it is there), removing each from the store only once the collector has it. Retries as the
 * delivery policy says (../delivery.ts, the event shipper's); a blob the collector refuses for good
 * (too large, bad hash) is set aside in `rejected/` and logged, never retried forever.
 */
export class BlobShipper implements Component {
  readonly id = "sink.blob-shipper";
  readonly #o: BlobShipperOptions;
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 2 });
  readonly #abort = new AbortController();
  readonly #status = { shipped: 0, rejected: 0, lastError: undefined as string | undefined };
  #loop: Promise<void> | undefined;
  readonly #pause = new Pause();
  #stopped = false;
  #backingOff = false;

  constructor(options: BlobShipperOptions) {
    this.#o = options;
  }

  get status(): BlobShipperStatus {
    const { lastError, ...counts } = this.#status;
    return { pending: this.#o.store.list().length, ...counts, ...(lastError ? { lastError } : {}) };
  }

  async start(): Promise<void> {
    this.#loop = this.#run();
  }

  /**
   * New content is waiting: ship it now rather than at the next poll, unless the collector failed
   * and the loop is backing off (new content does not bring the collector back: each kick listed
   * every blob waiting and tried again, per memory write, for as long as the collector was down).
   */
  kick(): void {
    if (!this.#backingOff) this.#pause.wake();
  }

  async #run(): Promise<void> {
    const backoff = new Backoff(this.#o);
    while (!this.#stopped) {
      let waiting: string[];
      try {
        waiting = this.#o.store.list();
      } catch (err) {
        // EMFILE, EACCES...: a pass lost, not the sidecar.
        this.#status.lastError = (err as Error).message;
        this.#o.log.warn("memory contents waiting could not be listed", { error: this.#status.lastError });
        await this.#pause.for(backoff.next(failureOf(err)));
        continue;
      }
      let failure: Failure | undefined;
      for (const sha256 of waiting) {
        if (this.#stopped) return;
        try {
          await this.#ship(sha256);
          backoff.reset();
        } catch (err) {
          if (this.#stopped) return;
          this.#status.lastError = describeError(err);
          this.#o.log.warn("memory contents not shipped yet, kept on disk", {
            error: this.#status.lastError,
            pending: waiting.length,
          });
          failure = failureOf(err);
          break;
        }
      }
      // New content wakes it (kick): with nothing waiting the timeout is only a safety net. After a
      // failure, kicks that came while it shipped are dropped too: the backoff is served in full.
      if (this.#stopped) return;
      if (failure) this.#pause.forget();
      this.#backingOff = failure !== undefined;
      await this.#pause.for(failure ? backoff.next(failure) : waiting.length > 0 ? 5000 : IDLE_POLL_MS);
      this.#backingOff = false;
    }
  }

  /** Throws on anything to retry; returns once the collector has the blob or refused it for good. */
  async #ship(sha256: string): Promise<void> {
    const url = new URL(`/v1/blobs/${sha256}`, this.#o.url);
    const head = await this.#call(url, "HEAD");
    if (head.status === 200) {
      this.#o.store.remove(sha256);
      return;
    }
    const answer =
      head.status === 404 ? await this.#call(url, "PUT", await this.#o.store.read(sha256)) : head;
    const outcome = outcomeOf(answer.status);
    if (outcome === "delivered") {
      this.#o.store.remove(sha256);
      this.#status.shipped++;
      delete this.#status.lastError;
      return;
    }
    if (outcome !== "refused") {
      // Busy, a token refused (the operator's to fix), an answer not understood: the content waits.
      throw new DeliveryFailure(
        outcome,
        `collector answered HTTP ${answer.status} for blob ${sha256}: ${answer.text.slice(0, 200)}`,
        answer.retryAfterMs,
      );
    }
    this.#o.store.reject(sha256);
    this.#status.rejected++;
    this.#o.log.error("the collector refused a memory file version; set aside", {
      sha256,
      status: answer.status,
      error: answer.text.slice(0, 200),
      dir: this.#o.store.dir,
    });
  }

  async #call(
    url: URL,
    method: "HEAD" | "PUT",
    body?: Buffer,
  ): Promise<{ status: number; text: string; retryAfterMs: number | undefined }> {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, {
        method,
        dispatcher: this.#agent,
        headers: {
          authorization: `Bearer ${this.#o.token}`,
          ...(body ? { "content-type": "application/octet-stream" } : {}),
        },
        ...(body ? { body } : {}),
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
    }
    const text = method === "HEAD" ? "" : await response.body.text().catch(() => "");
    if (method === "HEAD") await response.body.dump();
    return { status: response.statusCode, text, retryAfterMs: retryAfterMs(response.headers["retry-after"]) };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    this.#pause.wake();
    await this.#loop?.catch(() => {});
    await this.#agent.destroy().catch(() => {});
  }
}
