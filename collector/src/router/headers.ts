// What a reverse proxy must do to headers (RFC 9110 §7.6): drop the hop-by-hop ones, both ways,
// including every header the Connection header names, and, when asked, say who the client was
// (X-Forwarded-For, -Proto, -Host: OpenClaw reads them from the proxies it trusts), from what the
// router knows, not from what the client claims.
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

/** Set from the router's own connection, never taken from the client, with `forwarded`. */
const CLIENT_CLAIMS = ["forwarded", "x-real-ip", "x-forwarded-proto", "x-forwarded-host"];

/**
 * The headers to send the target for a client request: end to end only, with the target's host.
 * With `forwarded`, the client's address is appended to X-Forwarded-For (its earlier hops kept: a
 * target trusting the router reads the last one, which the router wrote), X-Forwarded-Proto is
 * the router's own (http: it listens on plain HTTP) and X-Forwarded-Host the Host the client asked
 * for, whatever the client sent in them; the client's `Forwarded` and `X-Real-IP` are dropped, so a
 * target trusting the router is not lied to by a client. Off by default: OpenClaw refuses (403
 * proxy_attribution_required) any request carrying forwarded headers from an address not in its
 * `gateway.trustedProxies`, and one whose client resolves to loopback even then; the router then
 * passes the client's own as they came.
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  clientAddress: string | undefined,
  targetHost: string,
  forwarded = false,
): OutgoingHttpHeaders {
  const out = endToEnd(headers);
  if (forwarded) {
    for (const name of CLIENT_CLAIMS) delete out[name];
    const client = clientAddress?.replace(/^::ffff:/, "") ?? "unknown";
    const earlier = headers["x-forwarded-for"];
    out["x-forwarded-for"] = earlier ? `${earlier}, ${client}` : client;
    out["x-forwarded-proto"] = "http";
    if (headers.host) out["x-forwarded-host"] = headers.host;
  }
  out.host = targetHost;
  return out;
}

/** A response's head as it came over a raw connection: its status and its headers, by lower-case name. */
export interface ResponseHead {
  status: number;
  reason: string;
  headers: IncomingHttpHeaders;
  /** Its length in bytes, up to and with the blank line. */
  length: number;
}

/**
 * The response head at the start of `data` (undefined: not all there yet; null: not HTTP/1.x).
 * Repeated headers are joined with ", ", Set-Cookie kept as a list (as Node's parser does).
 */
export function parseResponseHead(data: Buffer): ResponseHead | null | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine = "", ...lines] = data.subarray(0, end).toString("latin1").split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!status) return null;
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    if (name === "set-cookie") headers["set-cookie"] = [...(headers["set-cookie"] ?? []), value];
    else headers[name] = had === undefined ? value : `${had}, ${value}`;
  }
  return { status: Number(status[1]), reason: status[2] ?? "", headers, length: end + 4 };
}

/** A response head to write on a raw connection. */
export function formatResponseHead(status: number, reason: string, headers: OutgoingHttpHeaders): string {
  const lines = [`HTTP/1.1 ${status} ${reason}`.trimEnd()];
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined)
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/**
 * The headers of a target's answer to an upgrade request, for the client: end to end only. A 101
 * asks for the upgrade again on the client's hop; any other final answer keeps its framing
 * (Transfer-Encoding: its body is relayed as it came) and closes the connection after it (the
 * client's connection was handed over for the upgrade and carries no next request).
 */
export function upgradeAnswerHeaders(status: number, headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out = endToEnd(headers);
  if (status === 101) {
    out.connection = "Upgrade";
    if (headers.upgrade) out.upgrade = headers.upgrade;
  } else if (status >= 200) {
    if (headers["transfer-encoding"]) out["transfer-encoding"] = headers["transfer-encoding"];
    out.connection = "close";
  }
  return out;
}
