// What a reverse proxy must do to headers (RFC 9110 §7.6): drop the hop-by-hop ones, both ways,
// including every header the Connection header names, and, when asked, say who the client was
// (X-Forwarded-For, -Proto, -Host: OpenClaw reads them from the proxies it trusts).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/** Meaningful for one connection only; never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** `headers` without the hop-by-hop ones and those its Connection header names. */
export function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The headers to send the target for a client request: end to end only, with the target's host.
 * With `forwarded`, the client is appended to X-Forwarded-For (its earlier hops kept), with the
 * protocol and host it asked for. Off by default: OpenClaw refuses (403 proxy_attribution_required)
 * any request carrying forwarded headers from an address not in its `gateway.trustedProxies`, and
 * one whose client resolves to loopback even then; the router passes the client's own as they came.
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  clientAddress: string | undefined,
  targetHost: string,
  forwarded = false,
): OutgoingHttpHeaders {
  const out = endToEnd(headers);
  if (forwarded) {
    const client = clientAddress?.replace(/^::ffff:/, "") ?? "unknown";
    const earlier = headers["x-forwarded-for"];
    out["x-forwarded-for"] = earlier ? `${earlier}, ${client}` : client;
    out["x-forwarded-proto"] = headers["x-forwarded-proto"] ?? "http";
    if (headers.host) out["x-forwarded-host"] = headers["x-forwarded-host"] ?? headers.host;
  }
  out.host = targetHost;
  return out;
}
