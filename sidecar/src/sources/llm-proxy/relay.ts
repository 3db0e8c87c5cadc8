import type { Call } from "./call.ts";
import type { ProxyContext } from "./context.ts";
import type { Answer } from "./dispatch.ts";
import { classify } from "./health.ts";
import {
  drained,
  isEventStream,
  KeyScrubber,
  MAX_USAGE_BODY,
  MAX_WHOLE_BODY,
  readUpTo,
  responseHeaders,
  scrubKey,
  sendJson,
} from "./http.ts";
import { SseReader } from "./sse.ts";

/**
 * The relay step: the provider's answer to the client, without the key the sidecar injected. An
 * error whole, a small answer in one write, the rest as it comes; usage read off the way.
 */
export async function relay(ctx: ProxyContext, call: Call, answer: Answer): Promise<void> {
  const { provider } = call;
  const status = answer.upstream.statusCode;
  call.status = status;
  if (status >= 400) {
    relayError(ctx, call, answer);
    return;
  }
  ctx.noteOutcome(provider, { class: "ok" }, status);
  ctx.credentials.remember(provider, call.req.headers);
  // A small answer has all arrived with its headers: taken at once, without a promise per chunk.
  const whole = mayBeWhole(answer)
    ? (answer.upstream.body.arrived(MAX_WHOLE_BODY) ?? (await readWhole(answer)))
    : undefined;
  if (whole) sendWhole(call, answer.upstream, whole);
  else await relayChunks(call, answer);
}

/** An error answer (read whole already), classified for the provider's health. */
function relayError(ctx: ProxyContext, call: Call, answer: Answer): void {
  const { provider } = call;
  const { upstream } = answer;
  const status = upstream.statusCode;
  const errorBody = Buffer.concat(answer.held);
  const outcome = classify(
    provider.id,
    provider.family,
    status,
    upstream.headers,
    errorBody.toString("utf8"),
  );
  call.errorType = outcome.class === "client_error" ? String(status) : outcome.class;
  ctx.noteOutcome(provider, outcome, status);
  call.res.writeHead(status, responseHeaders(provider, upstream.headers));
  call.res.end(scrubKey(provider, errorBody));
  call.responseBytes = errorBody.length;
}

/**
 * A whole answer (its length declared or not) up to MAX_WHOLE_BODY goes out in one write, headers
 * and body together: one syscall, not one per chunk and one more for the end. Not a stream, and
 * not one whose start was held back (a Responses preamble).
 */
function mayBeWhole(answer: Answer): boolean {
  const { upstream } = answer;
  const declared = Number(upstream.headers["content-length"]);
  return !isEventStream(upstream.headers) && answer.held.length === 0 && !(declared > MAX_WHOLE_BODY);
}

/** The answer's chunks when it ends within MAX_WHOLE_BODY; else undefined, what was read held in `answer`. */
async function readWhole(answer: Answer): Promise<Buffer[] | undefined> {
  answer.chunks = answer.upstream.body;
  const read = await readUpTo(answer.chunks, MAX_WHOLE_BODY);
  if (read.ended) return read.chunks;
  answer.held = read.chunks; // longer than that: relayed as it comes, from here on
  return undefined;
}

function sendWhole(call: Call, upstream: Answer["upstream"], chunks: Buffer[]): void {
  const { provider } = call;
  const whole = scrubKey(provider, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  call.ttftMs = performance.now() - call.started;
  call.responseBytes = whole.length;
  call.res.writeHead(upstream.statusCode, responseHeaders(provider, upstream.headers, whole.length));
  call.res.end(whole);
  usageFromJson(call, whole);
}

async function relayChunks(call: Call, answer: Answer): Promise<void> {
  const { upstream } = answer;
  const { provider, res } = call;
  res.writeHead(upstream.statusCode, responseHeaders(provider, upstream.headers));
  const reader = isEventStream(upstream.headers)
    ? new SseReader((data) => provider.family.usageFromEvent(data, call.usage))
    : undefined;
  const kept: Buffer[] = [];
  let keptBytes = 0;
  const scrubber = new KeyScrubber(provider);
  const relayOne = async (chunk: Buffer) => {
    call.ttftMs ??= performance.now() - call.started;
    call.responseBytes += chunk.length;
    const shown = scrubber.push(chunk);
    // Until drained or closed: a client that stops reading and then leaves never drains, and this
    // call would wait forever (no llm.request event, its span never ended).
    if (shown.length > 0 && !res.write(shown)) await drained(res);
    if (reader) reader.push(chunk);
    else if (keptBytes + chunk.length <= MAX_USAGE_BODY) {
      kept.push(chunk);
      keptBytes += chunk.length;
    }
  };
  for (const chunk of answer.held) await relayOne(chunk);
  const chunks = answer.chunks ?? upstream.body;
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) await relayOne(next.value);
  res.end(scrubber.end());
  if (reader) reader.end();
  else if (keptBytes === call.responseBytes) usageFromJson(call, Buffer.concat(kept));
}

function usageFromJson(call: Call, body: Buffer): void {
  try {
    call.provider.family.usageFromJson(JSON.parse(body.toString("utf8")), call.usage);
  } catch {
    // Not JSON (or not one we read): relayed as it came.
  }
}

/** The relay broke off: a 502 if nothing was sent yet, else the client's connection is cut. */
export function failRelay(ctx: ProxyContext, call: Call, err: Error): void {
  const { provider, res } = call;
  call.errorType ??= res.destroyed ? "client_aborted" : "relay_failed";
  // The provider's answer broke off (after its headers were counted as an outcome): its health says so.
  if (call.errorType === "relay_failed") ctx.health.count(provider.id, "relay_failed");
  if (!res.headersSent) {
    const { status, body } = provider.family.error(
      502,
      `clawguard: relay from ${provider.id} failed: ${err.message}`,
    );
    call.status = status;
    sendJson(res, status, body);
  } else res.destroy();
}
