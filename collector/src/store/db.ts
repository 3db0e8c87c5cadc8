import { ClawguardError } from "@clawguard/shared/errors";

/** What the store needs from a database: PostgreSQL through `pg`, or PGlite in-process. Same SQL. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: "postgres" | "pglite";
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Whether writes fail for want of disk (or I/O, memory): for /readyz. */
  readonly health: StoreHealth;
  /**
   * Takes no more work (each call fails as store.unavailable at once); what is under way gets
   * `graceMs` (default 0), then is cut. Idempotent: the first call's grace holds.
   */
  close(graceMs?: number): Promise<void>;
}

/** What a call on a closed store meets, at once (never a wait on a pool that is ending). */
export function storeClosed(name: string): ClawguardError {
  return new ClawguardError("store.unavailable", `${name}: the store is closed (the collector is stopping)`, {
    retryable: true,
  });
}

/** Why the store cannot write, for /readyz: the kind of failure, the database's words, since when. */
export interface WriteFailure {
  reason: "disk_full" | "io_error" | "out_of_resources";
  message: string;
  since: string;
}

/**
 * SQLSTATE 53100 (disk full: "could not extend file ... No space left on device"), class 53 (out of
 * memory, too many connections), 58030 (I/O error), or the same errno from the file system: the
 * database is fine but cannot write for now. PostgreSQL and PGlite report these alike.
 */
function writeFailureOf(err: unknown): WriteFailure["reason"] | undefined {
  const code = (err as { code?: unknown })?.code;
  if (code === "53100" || code === "ENOSPC" || code === "EDQUOT") return "disk_full";
  if (code === "58030" || code === "EIO") return "io_error";
  if (typeof code === "string" && code.startsWith("53")) return "out_of_resources";
  return undefined;
}

/**
 * A write failure is reported this long after the last one even when other writes succeed meanwhile:
 * on a full disk a small update can still fit in a page with room while every batch fails.
 */
export const WRITE_FAILURE_HOLD_MS = 5000;

/**
 * Remembers the latest write failure of the kind above until a write succeeds again and none has
 * failed for WRITE_FAILURE_HOLD_MS; /readyz names it. The failure itself becomes `store.unavailable`
 * (HTTP 503, Retry-After): the sidecar keeps the batch and sends it again, so nothing is lost while
 * the disk is full.
 */
export class StoreHealth {
  #failure: (WriteFailure & { last: number }) | undefined;
  #wroteAt = 0;
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  get failure(): WriteFailure | undefined {
    const f = this.#failure;
    if (!f) return undefined;
    if (this.#wroteAt > f.last && Date.now() - f.last >= WRITE_FAILURE_HOLD_MS) {
      this.#failure = undefined;
      return undefined;
    }
    return { reason: f.reason, message: f.message, since: f.since };
  }

  /** A transaction committed. */
  wrote(): void {
    this.#wroteAt = Date.now();
  }

  /** Rethrows `err`, as `store.unavailable` when it is a write failure of the kind above. */
  fail(err: unknown): never {
    const reason = writeFailureOf(err);
    if (!reason) throw err;
    const message = (err as Error).message ?? String(err);
    const since = this.failure?.since ?? new Date().toISOString();
    this.#failure = { reason, message, since, last: Date.now() };
    throw new ClawguardError("store.unavailable", `${this.#name} cannot write (${reason}): ${message}`, {
      retryable: true,
      cause: err,
      details: { reason },
    });
  }
}
