import type { Dispatcher } from "undici";
import type { Call } from "./call.ts";
import type { ProxyContext } from "./context.ts";
import type { Overflow } from "./family.ts";
import { isEventStream, MAX_ERROR_BODY, readLimited, readPreamble, sendJson } from "./http.ts";
import { dispatchCall, type UpstreamResponse } from "./upstream.ts";

/** The provider's answer once the overflow retry is settled: its first chunks may be held back. */
export interface Answer {
  upstream: UpstreamResponse;
  held: Buffer[];
  chunks?: AsyncIterator<Buffer> | undefined;
}

/**
 * The dispatch step: sends the call; after the provider's own overflow answer (a 400, or the first
 * events of a Responses stream) with nothing sent to the client yet, trims harder and sends once
 * more. Undefined when the provider could not be reached (answered here) or the client left.
 */
export async function dispatch(
  ctx: ProxyContext,
  call: Call,
  headers: Record<string, string>,
): Promise<Answer | undefined> {
  for (;;) {
    let upstream: UpstreamResponse;
    try {
      upstream = await send(ctx, call, headers);
    } catch (err) {
      unreachable(ctx, call, err as Error);
      return undefined;
    }
    // Most answers hold nothing that could say "overflow": no promise for them.
    const { answer, overflow } = mayOverflow(call, upstream)
      ? await overflowIn(call, upstream)
      : { answer: { upstream, held: [] }, overflow: undefined };
    if (!overflow || !(await retryTrimmed(ctx, call, overflow))) return answer;
    upstream.body.destroy();
  }
}

function send(ctx: ProxyContext, call: Call, headers: Record<string, string>): Promise<UpstreamResponse> {
  const body = call.payload;
  headers["content-length"] = String(body.length); // the body may be trimmed again before a retry
  const started = dispatchCall(ctx.dispatcher, {
    origin: call.route.origin,
    path: call.route.target,
    method: call.method as Dispatcher.HttpMethod,
    headers,
    body: call.method === "GET" || call.method === "HEAD" ? null : body,
    headersTimeout: ctx.config.headersTimeoutMs,
    bodyTimeout: ctx.config.bodyTimeoutMs,
  });
  call.inFlight = started.body;
  return started.response;
}

/** The provider did not answer: a 502 in its own error shape, unless the client left first. */
function unreachable(ctx: ProxyContext, call: Call, err: Error): void {
  // The client left before the provider answered: nobody to answer, and no failure of the provider's.
  if (call.clientGone) {
    call.errorType = "client_aborted";
    return;
  }
  const { provider, res } = call;
  call.status = 502;
  call.errorType = "network";
  ctx.noteOutcome(provider, { class: "network" });
  const { status, body } = provider.family.error(
    502,
    `clawguard: cannot reach ${provider.id} at ${call.route.origin}: ${err.message}`,
  );
  if (!res.headersSent && !res.destroyed) sendJson(res, status, body);
}

/**
 * Whether the answer may say "overflow": an error, or a guarded Responses stream (that API reports
 * an overflow inside a 200 stream).
 */
function mayOverflow(call: Call, upstream: UpstreamResponse): boolean {
  return upstream.statusCode >= 400 || isGuardedResponsesStream(call, upstream);
}

function isGuardedResponsesStream(call: Call, upstream: UpstreamResponse): boolean {
  return (
    call.guarded !== undefined &&
    call.provider.family.api === "openai-responses" &&
    isEventStream(upstream.headers)
  );
}

/**
 * The answer, with what could say "overflow" read and held back: an error body whole, or the
 * preamble of a guarded Responses stream.
 */
async function overflowIn(
  call: Call,
  upstream: UpstreamResponse,
): Promise<{ answer: Answer; overflow: Overflow | undefined }> {
  const family = call.provider.family;
  const answer: Answer = { upstream, held: [] };
  let overflowText: string | undefined;
  if (upstream.statusCode >= 400) {
    answer.held = [await readLimited(upstream.body, MAX_ERROR_BODY)];
    overflowText = answer.held[0]?.toString("utf8");
  } else if (isGuardedResponsesStream(call, upstream)) {
    answer.chunks = upstream.body;
    const preamble = await readPreamble(answer.chunks);
    answer.held = preamble.chunks;
    overflowText = preamble.error;
  }
  const overflow =
    overflowText !== undefined
      ? family.parseOverflow(upstream.statusCode === 200 ? 400 : upstream.statusCode, overflowText)
      : undefined;
  return { answer, overflow };
}

/** Trims a guarded call harder after the provider's overflow answer, once; false when it cannot. */
async function retryTrimmed(ctx: ProxyContext, call: Call, overflow: Overflow): Promise<boolean> {
  const { guarded, provider } = call;
  if (call.retried || !guarded || !ctx.config.retryOnOverflow) return false;
  const harder = await ctx.guard.trimHarder(provider, call.payload.toString("utf8"), guarded, overflow);
  if (!harder) return false;
  call.retried = true;
  guarded.trim = harder;
  guarded.counted = { prefix: guarded.counted?.prefix ?? 0, total: harder.tokensAfter };
  ctx.event("llm.trimmed", "warn", {
    provider: provider.id,
    model: guarded.model,
    after_provider_overflow: true,
    tokens_before: harder.tokensBefore,
    tokens_after: harder.tokensAfter,
    spilled: harder.spilled.map((s) => s.id),
    dropped_items: harder.droppedItems,
    dropped_tokens: harder.droppedTokens,
  });
  call.payload = Buffer.from(harder.text, "utf8");
  return true;
}
