import type { IncomingMessage, ServerResponse } from "node:http";
import { Call } from "./call.ts";
import type { ProxyContext } from "./context.ts";
import { readBody, sendJson } from "./http.ts";
import { routeOf } from "./route.ts";

/** What provider APIs use; TRACE (which echoes the request, key included), CONNECT and the rest are not sent on. */
const FORWARDED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

/**
 * The route step: the provider the path names, a method it is sent, and the whole body within
 * llm.maxRequestBytes and the budget of bodies in flight. Undefined when the request was answered
 * here (bad path or method, body too large, too many bodies at once).
 */
export async function admit(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Call | undefined> {
  const routed = routeOf(req.url ?? "/", ctx.providers);
  if (!("origin" in routed)) {
    const family = routed.provider?.family;
    const shaped = family ? family.error(routed.status, routed.message) : undefined;
    sendJson(res, routed.status, shaped?.body ?? { error: { code: "not_found", message: routed.message } });
    return undefined;
  }
  const { family } = routed.provider;
  if (!FORWARDED_METHODS.has(req.method ?? "")) {
    const { status, body } = family.error(405, `clawguard: method ${req.method} is not proxied to providers`);
    res.setHeader("allow", [...FORWARDED_METHODS].join(", "));
    sendJson(res, status, body);
    return undefined;
  }
  const { config, bodies } = ctx;
  const read = await readBody(req, config.maxRequestBytes, bodies);
  if ("refused" in read) {
    const { status, body } =
      read.refused === "too_large"
        ? family.error(
            413,
            `clawguard: request body over llm.maxRequestBytes (${config.maxRequestBytes} bytes)`,
          )
        : family.error(
            503,
            `clawguard: ${bodies.maxBytes} bytes of request bodies are being received already (llm.maxPendingBodyBytes): try again shortly`,
          );
    res.setHeader("connection", "close");
    if (read.refused === "busy") res.setHeader("retry-after", "1");
    sendJson(res, status, body);
    return undefined;
  }
  return new Call(req, res, routed, read.body);
}
