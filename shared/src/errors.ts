/**
 * The one error type every clawguard component throws. Callers match on `code`, never on the
 * message; only the HTTP error handlers map codes to statuses.
 */
export type ErrorCode =
  | "config.invalid"
  | "input.invalid"
  | "input.too_large"
  | "auth.missing"
  | "auth.invalid"
  | "auth.forbidden"
  | "not_found"
  | "exec.denied"
  /** The spool is at its maxBytes: waiting for the collector to acknowledge. */
  | "spool.full"
  /** The spool is closed (the sidecar is stopping). */
  | "spool.closed"
  /** The spool's disk refused a write (ENOSPC, EIO...): `details.errno` says which. */
  | "spool.io"
  | "spool.locked"
  | "store.unavailable"
  | "memory.locked"
  | "upstream.unavailable"
  | "upstream.rejected"
  | "internal";

export class ClawguardError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Extra machine-readable detail (field paths, limits, values). Never secrets. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ClawguardError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isClawguardError(err: unknown, code?: ErrorCode): err is ClawguardError {
  return err instanceof ClawguardError && (code === undefined || err.code === code);
}

/** A message for any thrown value, with the cause chain when there is one. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  let cause = err.cause;
  for (let depth = 0; cause instanceof Error && depth < 4; depth++) {
    // A wrapper that repeats its cause's words ("listen EADDRINUSE ...: listen EADDRINUSE ...") says them once.
    const message = cause.message;
    if (!parts.some((part) => part.includes(message))) parts.push(message);
    cause = cause.cause;
  }
  return parts.join(": ");
}
