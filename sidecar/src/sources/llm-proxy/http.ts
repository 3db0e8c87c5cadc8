import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { redactText } from "@clawguard/shared/redact";
import { asRecord, type Family } from "./family.ts";
import type { Provider } from "./providers.ts";
import { SseReader } from "./sse.ts";

/** The HTTP side of the proxy: headers in and out, bodies read within limits, JSON answers. */

/** Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and ours to set. */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "accept-encoding",
  // Node's server has already answered it (100 Continue) by the time the body is read; passed on,
  // undici refuses the call ("expect header not supported") and the agent got a 502.
  "expect",
]);
/** What the provider's key is replaced with in what goes back to the agent. */
const KEY_SHOWN = "[REDACTED:provider-key]";
/** An error body is read whole (to classify it) up to this size. */
export const MAX_ERROR_BODY = 1024 * 1024;
/** A whole (not streamed) answer up to this size is relayed in one write. */
export const MAX_WHOLE_BODY = 1024 * 1024;
/** A JSON response is parsed for usage up to this size; larger ones pass through unparsed. */
export const MAX_USAGE_BODY = 8 * 1024 * 1024;
/** No tokenizer yields more tokens than the text has bytes; an inline image counts at most this. */
export const IMAGE_ALLOWANCE = 2000;

export function injectedCredential(provider: Provider): Record<string, string> {
  const key = provider.apiKey as string;
  return provider.family.api === "anthropic-messages"
    ? { "x-api-key": key }
    : { authorization: `Bearer ${key}` };
}

export function forwardHeaders(incoming: IncomingHttpHeaders, provider: Provider): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  // Uncompressed, so usage can be read off the stream; the hop to the agent is loopback.
  headers["accept-encoding"] = "identity";
  if (provider.apiKey) {
    delete headers.authorization;
    delete headers["x-api-key"];
    Object.assign(headers, injectedCredential(provider));
  }
  return headers;
}

/**
 * The provider's response headers for the client, without the key the sidecar injected (a
 * provider or a gateway that echoes it in a header must not hand it to the agent); `length` when
 * the body is known whole.
 */
export function responseHeaders(
  provider: Provider,
  incoming: IncomingHttpHeaders,
  length?: number,
): Record<string, string | string[]> {
  const key = provider.apiKey;
  const headers: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (!key) headers[name] = value;
    else
      headers[name] = Array.isArray(value)
        ? value.map((v) => v.replaceAll(key, KEY_SHOWN))
        : value.replaceAll(key, KEY_SHOWN);
  }
  if (length !== undefined) headers["content-length"] = String(length);
  return headers;
}

/** Content is kept off spans unless llm.captureContent; then redacted and cut to this size. */
const MAX_CAPTURED_CHARS = 64 * 1024;

export function capturedContent(family: Family, payload: Buffer): string | undefined {
  try {
    const body = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
    const parts =
      family.api === "openai-responses"
        ? { instructions: body.instructions, input: body.input }
        : family.api === "anthropic-messages"
          ? { system: body.system, messages: body.messages }
          : { messages: body.messages };
    return redactText(JSON.stringify(parts)).slice(0, MAX_CAPTURED_CHARS);
  } catch {
    return undefined;
  }
}

export function isEventStream(headers: IncomingHttpHeaders): boolean {
  return String(headers["content-type"] ?? "").includes("text/event-stream");
}

/** Events a Responses stream opens with before anything the model wrote. */
const PREAMBLE_EVENTS = new Set(["response.created", "response.in_progress", "response.queued"]);
const MAX_PREAMBLE_BYTES = 64 * 1024;

/**
 * Reads a Responses stream up to its first event past the preamble. An `error` or
 * `response.failed` there is returned, so an overflow can be retried before the client sees a byte.
 */
export async function readPreamble(
  chunks: AsyncIterator<Buffer>,
): Promise<{ chunks: Buffer[]; error?: string }> {
  const held: Buffer[] = [];
  let bytes = 0;
  let decided = false;
  let error: string | undefined;
  const reader = new SseReader((data) => {
    if (decided) return;
    const type = asRecord(data)?.type;
    if (typeof type === "string" && PREAMBLE_EVENTS.has(type)) return;
    decided = true;
    if (type === "error" || type === "response.failed") error = JSON.stringify(data);
  });
  while (!decided && bytes < MAX_PREAMBLE_BYTES) {
    const next = await chunks.next();
    if (next.done) break;
    held.push(next.value);
    bytes += next.value.length;
    reader.push(next.value);
  }
  return error === undefined ? { chunks: held } : { chunks: held, error };
}

/** The largest token count the text could possibly have: its bytes, plus an allowance per image. */
export function upperBound(text: string): number {
  let images = 0;
  for (let i = text.indexOf('"image'); i !== -1; i = text.indexOf('"image', i + 1)) images++;
  return Buffer.byteLength(text, "utf8") + images * IMAGE_ALLOWANCE;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Bytes of request bodies being received at once, across all requests: a client that opens many
 * uploads and never finishes them would otherwise hold up to `llm.maxRequestBytes` each, until the
 * request timeout, and run the sidecar out of memory.
 */
export class BodyBudget {
  readonly maxBytes: number;
  #used = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  take(bytes: number): boolean {
    if (this.#used + bytes > this.maxBytes) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used -= bytes;
  }
}

export type BodyRead = { body: Buffer } | { refused: "too_large" | "busy" };

/** The whole request body, unless it is over `limit` bytes or the budget of bodies in flight is spent. */
export async function readBody(req: IncomingMessage, limit: number, budget: BodyBudget): Promise<BodyRead> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return { refused: "too_large" };
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Listeners added with `on` and all taken off at the end: `once` wraps each in one more
    // closure, per request.
    const finish = (result: BodyRead | Error) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", finish);
      req.off("close", onClose);
      budget.give(size);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) return finish({ refused: "too_large" });
      if (!budget.take(chunk.length)) return finish({ refused: "busy" });
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () =>
      finish({ body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
    const onClose = () => {
      if (!req.complete) finish(new Error("the client went away before its body was whole"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", finish);
    req.on("close", onClose);
  });
}

/** Resolves once `res` drains; rejects if it closes first (the client left without reading). */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      res.off("drain", onDrain);
      reject(new Error("the client went away"));
    };
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

/** Reads chunks to the end or past `limit` bytes; `ended` when they are the whole answer. */
export async function readUpTo(
  chunks: AsyncIterator<Buffer>,
  limit: number,
): Promise<{ chunks: Buffer[]; ended: boolean }> {
  const held: Buffer[] = [];
  let bytes = 0;
  while (bytes <= limit) {
    const next = await chunks.next();
    if (next.done) return { chunks: held, ended: true };
    held.push(next.value);
    bytes += next.value.length;
  }
  return { chunks: held, ended: false };
}

export async function readLimited(
  body: AsyncIterable<Buffer> & { destroy?: () => void },
  limit: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < limit) chunks.push(chunk.subarray(0, limit - size));
    size += chunk.length;
  }
  return Buffer.concat(chunks);
}

/**
 * The provider's answer without the key the sidecar injected: a provider (or a gateway before it)
 * that echoes the request's credential in an error ("Incorrect API key provided: sk-...") or a
 * header must not hand the agent the key it was never given. Whole answers here; a stream through
 * KeyScrubber.
 */
export function scrubKey(provider: Provider, body: Buffer): Buffer {
  const key = provider.apiKey;
  if (!key || body.indexOf(key) < 0) return body;
  return Buffer.from(body.toString("utf8").replaceAll(key, KEY_SHOWN), "utf8");
}

const KEY_SHOWN_BYTES = Buffer.from(KEY_SHOWN, "utf8");

/**
 * scrubKey for an answer relayed chunk by chunk, a key split across two chunks included: the end of
 * a chunk that could be the start of the key (at most key.length - 1 bytes) is held back until the
 * next chunk (or the end) shows whether it is. That is the only delay: a chunk that does not end
 * with the key's first bytes (an SSE event ends with a blank line) goes out whole at once.
 */
export class KeyScrubber {
  readonly #key: Buffer | undefined;
  #held: Buffer = Buffer.alloc(0);

  constructor(provider: Provider) {
    this.#key = provider.apiKey ? Buffer.from(provider.apiKey, "utf8") : undefined;
  }

  /** What of `chunk` (after what was held) may go out now, without the key. */
  push(chunk: Buffer): Buffer {
    const key = this.#key;
    if (!key) return chunk;
    const data = this.#held.length > 0 ? Buffer.concat([this.#held, chunk]) : chunk;
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = data.indexOf(key); at >= 0; at = data.indexOf(key, from)) {
      parts.push(data.subarray(from, at), KEY_SHOWN_BYTES);
      from = at + key.length;
    }
    const hold = keyStartAtEnd(data, from, key);
    this.#held = Buffer.from(data.subarray(data.length - hold));
    parts.push(data.subarray(from, data.length - hold));
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /** What was held back at the end of the answer: not the key's start after all. */
  end(): Buffer {
    const rest = this.#held;
    this.#held = Buffer.alloc(0);
    return rest;
  }
}

/** The length of the longest end of `data` (from `from` on) that is a proper start of `key`. */
function keyStartAtEnd(data: Buffer, from: number, key: Buffer): number {
  const first = key[0] as number;
  for (let at = Math.max(from, data.length - key.length + 1); at < data.length; at++) {
    if (data[at] !== first) continue;
    const length = data.length - at;
    if (data.compare(key, 0, length, at, data.length) === 0) return length;
  }
  return 0;
}
