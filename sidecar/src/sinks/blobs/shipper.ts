import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { Agent, request } from "undici";
import { Pause } from "../pause.ts";
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

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Uploads memory file contents to the collector (`PUT /v1/blobs/:sha256`, skipped when `HEAD`
 * says it is there), removing each from the store only once the collector has it. Network errors
 * and 408/429/5xx are retried with capped backoff; a blob the collector refuses for good (too
 * large, bad hash) is set aside in `rejected/` and logged, never retried forever.
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

  /** New content is waiting: ship it now rather than at the next poll. */
  kick(): void {
    this.#pause.wake();
  }

  async #run(): Promise<void> {
    let backoff = this.#o.backoffMinMs;
    while (!this.#stopped) {
      let waiting: string[];
      try {
        waiting = this.#o.store.list();
      } catch (err) {
        // EMFILE, EACCES...: a pass lost, not the sidecar.
        this.#status.lastError = (err as Error).message;
        this.#o.log.warn("memory contents waiting could not be listed", { error: this.#status.lastError });
        await this.#pause.jittered(backoff);
        backoff = Math.min(backoff * 2, this.#o.backoffMaxMs);
        continue;
      }
      let failed = false;
      for (const sha256 of waiting) {
        if (this.#stopped) return;
        try {
          await this.#ship(sha256);
          backoff = this.#o.backoffMinMs;
        } catch (err) {
          if (this.#stopped) return;
          this.#status.lastError = (err as Error).message;
          this.#o.log.warn("memory contents not shipped yet, kept on disk", {
            error: this.#status.lastError,
            pending: waiting.length,
          });
          failed = true;
          break;
        }
      }
      if (failed) {
        await this.#pause.jittered(backoff);
        backoff = Math.min(backoff * 2, this.#o.backoffMaxMs);
      } else await this.#pause.for(5000);
    }
  }

  /** Throws on anything worth retrying; returns once the collector has the blob or refused it for good. */
  async #ship(sha256: string): Promise<void> {
    const url = new URL(`/v1/blobs/${sha256}`, this.#o.url);
    const head = await this.#call(url, "HEAD");
    if (head.status === 200) {
      this.#o.store.remove(sha256);
      return;
    }
    const content = await this.#o.store.read(sha256);
    const put = await this.#call(url, "PUT", content);
    if (put.status === 200 || put.status === 201) {
      this.#o.store.remove(sha256);
      this.#status.shipped++;
      delete this.#status.lastError;
      return;
    }
    if (RETRYABLE.has(put.status) || put.status === 401 || put.status === 403) {
      // A token problem is the operator's to fix; the content waits for it.
      throw new Error(`collector answered HTTP ${put.status} for blob ${sha256}: ${put.text.slice(0, 200)}`);
    }
    this.#o.store.reject(sha256);
    this.#status.rejected++;
    this.#o.log.error("the collector refused a memory file version; set aside", {
      sha256,
      status: put.status,
      error: put.text.slice(0, 200),
      dir: this.#o.store.dir,
    });
  }

  async #call(url: URL, method: "HEAD" | "PUT", body?: Buffer): Promise<{ status: number; text: string }> {
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
      throw new Error(`cannot reach ${this.#o.url}: ${(err as Error).message}`);
    }
    const text = method === "HEAD" ? "" : await response.body.text().catch(() => "");
    if (method === "HEAD") await response.body.dump();
    if (method === "HEAD" && response.statusCode !== 200 && response.statusCode !== 404) {
      throw new Error(`collector answered HTTP ${response.statusCode} to HEAD ${url.pathname}`);
    }
    return { status: response.statusCode, text };
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
