import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ClawguardError, type ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";

/** The only place error codes become HTTP statuses. */
const STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  "input.invalid": 400,
  "input.too_large": 413,
  "auth.missing": 401,
  "auth.invalid": 401,
  "auth.forbidden": 403,
  not_found: 404,
  "exec.denied": 403,
  "spool.full": 503,
  "spool.closed": 503,
  "spool.io": 503,
  "store.unavailable": 503,
  "upstream.unavailable": 502,
};

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  details?: Record<string, unknown>,
) {
  const body: ErrorBody = { error: { code, message } };
  if (details) body.error.details = details;
  return c.json(body, status);
}

export function onError(log: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof ClawguardError) {
      const status = STATUS[err.code] ?? 500;
      if (status >= 500) log.error(err.message, { code: err.code, path: c.req.path });
      if (err.retryable) c.header("Retry-After", "1");
      return errorResponse(
        c,
        status,
        err.code,
        err.message,
        err.details as Record<string, unknown> | undefined,
      );
    }
    if (err instanceof HTTPException) {
      return errorResponse(
        c,
        err.status as ContentfulStatusCode,
        "input.invalid",
        err.message || "bad request",
      );
    }
    const sqlState = (err as { code?: unknown }).code;
    if (typeof sqlState === "string" && /^(22|54)[0-9A-Z]{3}$/.test(sqlState)) {
      // The database refused a value a request carried (SQLSTATE 22: data exception, 54: a limit):
      // the request's fault. The parsers should have refused it first: logged, so that gets fixed.
      log.warn("a request value reached the database and was refused", { path: c.req.path, sqlState });
      return errorResponse(c, 400, "input.invalid", `the store refused a value: ${err.message}`);
    }
    if (clientAborted(err, c)) {
      // The client went away mid-request (its body cut short): nothing to fix here, no stack.
      log.info("client closed the connection mid-request", { path: c.req.path, method: c.req.method });
      return errorResponse(c, 400, "input.invalid", "the client closed the connection mid-request");
    }
    log.error("unhandled error", { path: c.req.path, error: err.stack ?? String(err) });
    return errorResponse(c, 500, "internal", "internal error (logged on the server)");
  };
}

/**
 * A request whose body stopped arriving: its client closed the connection (Node's `aborted`,
 * ECONNRESET), or a stopping server cut it (the request's signal aborted). One place for both.
 */
function clientAborted(err: Error, c: Context): boolean {
  return (err as { code?: unknown }).code === "ECONNRESET" || c.req.raw.signal?.aborted === true;
}

export function notFound(c: Context) {
  return errorResponse(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`);
}
