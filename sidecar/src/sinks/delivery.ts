import { ClawguardError } from "@clawguard/shared/errors";

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

/**
 * A Retry-After header as milliseconds from `now`, in either form RFC 9110 allows: delta-seconds
 * ("120") or an HTTP-date (IMF-fixdate "Mon, 07 Dec 2026 08:00:30 GMT", and the obsolete RFC 850
 * and asctime forms a recipient must also read), a date in the past being 0. Undefined when absent
 * or neither.
 */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = httpDate(value);
  return at === undefined ? undefined : Math.max(0, at - now);
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const TIME = "(?<h>\\d{2}):(?<mi>\\d{2}):(?<s>\\d{2})";
const HTTP_DATES = [
  // IMF-fixdate: Mon, 07 Dec 2026 08:00:30 GMT
  new RegExp(`^[a-z]{3}, (?<d>\\d{2}) (?<mon>[a-z]{3}) (?<y>\\d{4}) ${TIME} gmt$`, "i"),
  // RFC 850: Monday, 07-Dec-26 08:00:30 GMT (a two-digit year: this century)
  new RegExp(`^[a-z]+, (?<d>\\d{2})-(?<mon>[a-z]{3})-(?<y>\\d{2}) ${TIME} gmt$`, "i"),
  // asctime: Mon Dec  7 08:00:30 2026
  new RegExp(`^[a-z]{3} (?<mon>[a-z]{3}) {1,2}(?<d>\\d{1,2}) ${TIME} (?<y>\\d{4})$`, "i"),
];

/** An HTTP-date (always GMT) as ms since the epoch; undefined when it is none. */
function httpDate(value: string): number | undefined {
  for (const re of HTTP_DATES) {
    const g = re.exec(value)?.groups;
    if (!g) continue;
    const month = MONTHS.indexOf((g.mon as string).toLowerCase());
    if (month < 0) return undefined;
    const year = (g.y as string).length === 2 ? 2000 + Number(g.y) : Number(g.y);
    return Date.UTC(year, month, Number(g.d), Number(g.h), Number(g.mi), Number(g.s));
  }
  return undefined;
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
