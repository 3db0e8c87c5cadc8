import type { Provider } from "./providers.ts";
import { operationOf } from "./telemetry.ts";

/** Where a proxied call goes: always the provider's own origin, under its base path. */
export interface Route {
  readonly provider: Provider;
  /** The path after `/llm/<provider>/`, as the client sent it (still percent-encoded). */
  readonly path: string;
  /** The provider's origin (scheme, host, port): the only place its key is ever sent. */
  readonly origin: string;
  /** The request target at that origin: the upstream's base path, then `path`, then the query. */
  readonly target: string;
  /** gen_ai.operation.name of the endpoint called: chat, embeddings... */
  readonly operation: string;
}

export type RouteResult = Route | { status: 400 | 404; message: string; provider?: Provider };

// RFC 3986 pchar plus "/": anything else (a backslash, a space, a control or a raw non-ASCII byte)
// is something a client library would have encoded, and something a server may read differently.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
// Encoded "/", "\" and "." would let a segment climb or split after the upstream decodes it;
// encoded control characters (NUL included) are never part of an API path.
const SMUGGLED = /%(2f|5c|2e|[01][0-9a-f]|7f)/i;
// An encoded "%" before hex is a second layer of encoding (%252e: "." to a server that decodes
// twice); %c0/%c1 and %e0%80/%f0%80 start overlong UTF-8 forms ("%c0%ae": "." to a lax decoder).
const LAYERED = /%25[0-9a-f]{2}|%c[01]|%e0%[89]|%f0%8/i;
const QUERY_CHARS = /^\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Routes already worked out, per set of providers: an agent calls the same few URLs over and over,
 * and each was checked by a dozen regular expressions (about 1 us a call). Only what routed is kept;
 * a refusal is worked out again (its message names the providers as they are).
 */
const ROUTED = new WeakMap<ReadonlyMap<string, Provider>, Map<string, Route>>();
/** URLs kept per set of providers; past that, all are forgotten (an agent uses a handful). */
const MAX_ROUTED = 256;
/** A longer URL is routed afresh each time (256 of them kept would be megabytes). */
const MAX_ROUTED_URL = 1024;

/**
 * The route of `/llm/<provider>/<path>?<query>`. The path is appended to the upstream's base path as
 * text, never resolved as a URL, so nothing in it can change the scheme, host or port, climb above
 * the base path, or reach another host with the provider's key. What could (dot segments, empty
 * segments as in `//host`, a scheme or userinfo in front, backslashes, encoded slashes or dots) is
 * refused with a reason. An `@` later in the path stays allowed (Vertex AI names model versions
 * `claude-3-5-sonnet@20240620`): with the origin fixed it cannot name a host.
 */
export function routeOf(rawUrl: string, providers: ReadonlyMap<string, Provider>): RouteResult {
  let known = ROUTED.get(providers);
  if (!known) {
    known = new Map();
    ROUTED.set(providers, known);
  }
  const hit = known.get(rawUrl);
  if (hit) return hit;
  const routed = resolve(rawUrl, providers);
  if ("origin" in routed && rawUrl.length <= MAX_ROUTED_URL) {
    if (known.size >= MAX_ROUTED) known.clear();
    known.set(rawUrl, routed);
  }
  return routed;
}

function resolve(rawUrl: string, providers: ReadonlyMap<string, Provider>): RouteResult {
  const queryAt = rawUrl.indexOf("?");
  const pathname = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt < 0 ? "" : rawUrl.slice(queryAt);
  const match = /^\/llm\/([^/]+)(?:\/(.*))?$/s.exec(pathname);
  // Built only for a refusal: a routed call pays for no message.
  const notFound = () => ({
    status: 404 as const,
    message: `no LLM provider at ${JSON.stringify(pathname.slice(0, 200))}: expected /llm/<provider>/<path>, providers: ${[...providers.keys()].join(", ") || "none configured"}`,
  });
  if (!match) return notFound();
  let id: string;
  try {
    id = decodeURIComponent(match[1] as string);
  } catch {
    return notFound();
  }
  const provider = providers.get(id);
  if (!provider) return notFound();
  const path = match[2] ?? "";
  const problem = pathProblem(path, query);
  if (problem) return { status: 400, message: `clawguard: path refused: ${problem}`, provider };
  const base = provider.upstream.pathname; // ends with "/"
  return {
    provider,
    path,
    origin: provider.upstream.origin,
    target: `${base}${path}${query}`,
    operation: operationOf(path),
  };
}

/** Why `path` (after /llm/<provider>/) may not be sent upstream, or undefined when it may. */
export function pathProblem(path: string, query = ""): string | undefined {
  const problem = segmentProblem(path);
  if (problem) return `${JSON.stringify(path.slice(0, 120))} ${problem}`;
  if (query !== "" && !QUERY_CHARS.test(query)) return "the query has a character that must be encoded";
  return undefined;
}

/** What is wrong with the path's characters or segments (its quoted start goes before it), if anything. */
function segmentProblem(path: string): string | undefined {
  if (!PATH_CHARS.test(path)) return "has a character a URL path must encode";
  if (/%(?![0-9a-f]{2})/i.test(path)) return "has a malformed percent-encoding";
  if (SMUGGLED.test(path)) return "encodes a slash, backslash, dot or control character";
  if (LAYERED.test(path)) return "is encoded twice or in overlong UTF-8";
  const segments = path.split("/");
  if (segments.some((s, i) => s === "" && i < segments.length - 1))
    return `has an empty segment ("//"): the path is appended to the provider's base URL`;
  // "..;x" is ".." to servers that take ";" as the start of path parameters (Tomcat, Spring).
  if (segments.some((s) => /^\.{1,2}(;|$)/.test(s))) return "has dot segments";
  const first = segments[0] ?? "";
  if (SCHEME.test(first) || first.includes("@"))
    return "starts like a URL of its own: only a path under the provider's base URL is proxied";
  return undefined;
}
