import { ClawguardError } from "@clawguard/shared/errors";

// Parsed in shared/ (the collector's notifications honour it too); exported here for the shippers.
export { retryAfterMs } from "@clawguard/shared/http/retry-after";

/**
 * The delivery policy of both shippers (events and memory file contents): what an answer from the
 * collector means, and how long to wait before the next attempt. One place, so that the two never
 * disagree on what is retried (they did: one retried 500 and ignored Retry-After).
 */

/**
 * What a delivery attempt came to:
 * - `delivered`: 2xx;
 * - `refused`: 400, 413, 422: the collector read this content and refuses it for good: set it
 *   aside (never retried, never dropped silently);
 * - `busy`: 408, 429, 502, 503, 504: the collector or the path to it is busy or restarting: retry,
 *   honouring Retry-After;
 * - `auth`: 401, 403: the token is refused: retry at the cap (the operator's to fix, nothing to
 *   gain sooner); the content waits;
 * - `failing`: any other answer (500, a proxy's 404): not understood, so never a reason to lose
 *   data: retry at the cap;
 * - `unreachable`: no answer at all (refused, reset, timed out): retry with backoff.
 */
export type Outcome = "delivered" | "refused" | "busy" | "auth" | "failing" | "unreachable";

const BUSY = new Set([408, 429, 502, 503, 504]);
const REFUSED = new Set([400, 413, 422]);

/** The outcome of an HTTP answer's status (see Outcome). */
export function outcomeOf(status: number): Exclude<Outcome, "unreachable"> {
  if (status >= 200 && status < 300) return "delivered";
  if (REFUSED.has(status)) return "refused";
  if (BUSY.has(status)) return "busy";
  if (status === 401 || status === 403) return "auth";
  return "failing";
}

/** A failed attempt, as the wait before the next one depends on it. */
export interface Failure {
  outcome: Exclude<Outcome, "delivered" | "refused">;
  /** The answer's Retry-After, when it had one (see retryAfterMs). */
  retryAfterMs?: number | undefined;
}

/**
 * An attempt that leaves the content where it is, for the next one: thrown inside a shipper's
 * loop, which waits as Backoff says. A token refused is `upstream.rejected`, the rest
 * `upstream.unavailable`.
 */
export class DeliveryFailure extends ClawguardError implements Failure {
  readonly outcome: Failure["outcome"];
  readonly retryAfterMs: number | undefined;

  constructor(outcome: Failure["outcome"], message: string, retryAfterMs?: number, cause?: unknown) {
    super(outcome === "auth" ? "upstream.rejected" : "upstream.unavailable", message, {
      retryable: true,
      cause,
    });
    this.outcome = outcome;
    this.retryAfterMs = retryAfterMs;
  }
}

/** What any error thrown in a shipper's loop means for the next wait: one not of delivery is `failing`. */
export function failureOf(err: unknown): Failure {
  return err instanceof DeliveryFailure ? err : { outcome: "failing" };
}

export interface BackoffOptions {
  /** The first wait after a failure; each failure in a row doubles it, up to backoffMaxMs. */
  backoffMinMs: number;
  /** The cap on every wait, Retry-After included. */
  backoffMaxMs: number;
}

/**
 * The waits between attempts of one shipper: exponential from backoffMinMs, doubled by each
 * failure in a row and reset by a delivery, with jitter (each wait is half to all of its step, so
 * that many sidecars do not retry in step), capped at backoffMaxMs. A Retry-After is honoured as
 * given (never shortened by jitter; up to a tenth longer), within the cap; `auth` and `failing`
 * wait at the cap. `random` is injectable for tests.
 */
export class Backoff {
  readonly #o: BackoffOptions;
  readonly #random: () => number;
  #step: number;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.#o = options;
    this.#random = random;
    this.#step = options.backoffMinMs;
  }

  /** A delivery went through: the next failure starts from backoffMinMs again. */
  reset(): void {
    this.#step = this.#o.backoffMinMs;
  }

  /** How long to wait after `failure` (and the step doubled for the next one). */
  next(failure: Failure): number {
    const max = this.#o.backoffMaxMs;
    const step = this.#step;
    this.#step = Math.min(step * 2, max);
    if (failure.outcome === "busy" && failure.retryAfterMs !== undefined)
      return Math.min(max, Math.round(failure.retryAfterMs * (1 + this.#random() / 10)));
    const base = failure.outcome === "auth" || failure.outcome === "failing" ? max : step;
    return Math.round(base * (0.5 + this.#random() / 2));
  }
}
