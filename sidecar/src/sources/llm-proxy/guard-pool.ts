import type { IncomingHttpHeaders } from "node:http";
import { Worker } from "node:worker_threads";
import type { Level, Logger } from "@clawguard/shared/log";
import type { Counted } from "./calibration.ts";
import type { LlmProxyConfig } from "./config.ts";
import type { ApiFamily, Overflow } from "./family.ts";
import type { Guarded, Harder } from "./guard.ts";
import type { ModelLimits, Provider } from "./providers.ts";

/**
 * Requests from this size on are guarded in the worker thread: parsing and counting them may take
 * longer than the event loop should wait (exact counting runs at a few MB/s the first time). Smaller
 * ones are guarded where they arrive, which costs less than the hop.
 */
export const WORKER_MIN_BYTES = 256 * 1024;
/** An idle worker is let go, and its memory with it, after this long. */
const IDLE_MS = 30_000;

export interface GuardJob {
  id: number;
  provider: {
    id: string;
    api: ApiFamily;
    upstream: string;
    models: [string, ModelLimits][];
    defaultContextWindow?: number | undefined;
    tokenizer?: Provider["tokenizer"];
  };
  config: LlmProxyConfig;
  calibration: Record<string, unknown>;
  spillDir: string;
  /** The workspace the spill folder is in (the spills are checked against links and handed to its owner). */
  spillWorkspace: string | undefined;
  agent: string;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
  /** Not a new request: the retry of one the provider answered with an overflow (guard.ts: harder). */
  retry?: {
    guarded: Pick<Guarded, "model" | "budget" | "reserve"> & { counter: string; exact: boolean };
    overflow: Overflow;
  };
}

/** The guard's decision (its counter without the function), and what it published meanwhile. */
export interface GuardReply {
  id: number;
  guarded?: Omit<Guarded, "body" | "counter"> & {
    counter?: { name: string; exact: boolean; margin: number };
  };
  invalid?: string;
  error?: string;
  events: { type: string; severity: "info" | "warn"; attrs: Record<string, unknown> }[];
  counts: ("trimmed" | "refused")[];
  logs: [Level, string, Record<string, unknown>][];
  /** The estimate decided: the exact count follows in a GuardLater message, when the worker is idle. */
  later?: boolean;
  /** A retry's trim (GuardJob.retry). */
  harder?: Harder;
}

/** The exact count of a request the estimate decided (undefined: given way to a newer job). */
export interface GuardLater {
  id: number;
  counted: Counted | undefined;
}

/** A reply, and the exact count to come when it says one follows. */
export type GuardOutcome = GuardReply & { counted?: Promise<Counted | undefined> };

/**
 * One worker thread, started on the first big request and let go after IDLE_MS without one. A
 * worker that dies fails the jobs it held (the caller lets those requests through unguarded) and
 * the next job starts a new one.
 */
export class GuardWorker {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve(reply: GuardReply): void; reject(err: Error): void }>();
  /** Exact counts still to come, by job. */
  readonly #later = new Map<number, (counted: Counted | undefined) => void>();
  /** Jobs posted to the current worker, shared with it (see guard-worker.ts). */
  #posted = new Int32Array(new SharedArrayBuffer(4));
  #next = 0;
  #idle: NodeJS.Timeout | undefined;
  readonly #log: Logger;
  /** The last job per provider, for a retry of one of its requests (trimHarder). */
  readonly #jobs = new Map<string, Omit<GuardJob, "id">>();

  constructor(log: Logger) {
    this.#log = log;
  }

  run(job: Omit<GuardJob, "id">): Promise<GuardOutcome> {
    if (job.retry === undefined)
      this.#jobs.set(job.provider.id, { ...job, headers: {}, body: new Uint8Array(0) });
    const id = ++this.#next;
    const worker = this.#start();
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
    const reply = new Promise<GuardReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      Atomics.add(this.#posted, 0, 1);
      worker.postMessage({ ...job, id } satisfies GuardJob);
    });
    return reply.then((r) => {
      if (!r.later) return r;
      return { ...r, counted: new Promise((resolve) => this.#later.set(id, resolve)) };
    });
  }

  /**
   * The retry's trim of a request this worker guarded (guard.ts: GuardDeps.away), its logs written
   * here; undefined when the worker knows nothing of the provider (then the guard trims where it is).
   */
  async trimHarder(
    provider: Provider,
    text: string,
    guarded: Guarded,
    overflow: Overflow,
  ): Promise<Harder | undefined> {
    const job = this.#jobs.get(provider.id);
    const { counter, model, budget, reserve } = guarded;
    if (!job || !counter) return undefined;
    const retry = {
      guarded: { model, budget, reserve, counter: counter.name, exact: counter.exact },
      overflow,
    };
    const reply = await this.run({ ...job, body: Buffer.from(text, "utf8"), retry });
    for (const [level, msg, fields] of reply.logs) this.#log[level](msg, fields);
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.harder;
  }

  async close(): Promise<void> {
    if (this.#idle) clearTimeout(this.#idle);
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const posted = new SharedArrayBuffer(4);
    this.#posted = new Int32Array(posted);
    const worker = new Worker(new URL("./guard-worker.ts", import.meta.url), { workerData: posted });
    worker.unref();
    worker.on("message", (message: GuardReply | GuardLater) => {
      if ("counted" in message) {
        this.#later.get(message.id)?.(message.counted);
        this.#later.delete(message.id);
        return;
      }
      this.#pending.get(message.id)?.resolve(message);
      this.#pending.delete(message.id);
      if (this.#pending.size === 0) this.#idleSoon(worker);
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const { reject } of this.#pending.values()) reject(err);
      this.#pending.clear();
      for (const resolve of this.#later.values()) resolve(undefined);
      this.#later.clear();
    };
    worker.on("error", (err) => {
      this.#log.warn("llm guard worker failed", { error: err.message });
      fail(err);
    });
    worker.on("exit", (code) => fail(new Error(`the guard worker exited (${code})`)));
    this.#worker = worker;
    return worker;
  }

  #idleSoon(worker: Worker): void {
    this.#idle = setTimeout(() => {
      if (this.#worker !== worker || this.#pending.size > 0) return;
      this.#worker = undefined;
      void worker.terminate();
    }, IDLE_MS).unref();
  }
}
