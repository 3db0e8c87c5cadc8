import type { IncomingMessage, ServerResponse } from "node:http";
import { admit } from "./admit.ts";
import type { Call } from "./call.ts";
import { type LlmProxyDeps, ProxyContext } from "./context.ts";
import { dispatch } from "./dispatch.ts";
import { finish } from "./finish.ts";
import { guardCall } from "./guard-call.ts";
import { forwardHeaders, sendJson } from "./http.ts";
import { failRelay, relay } from "./relay.ts";

export type { LlmProxyDeps } from "./context.ts";
export type { Tokenizer } from "./guard.ts";

/**
 * The LLM egress proxy: `/llm/<provider>/<path>` goes to the provider's upstream with pooled
 * keep-alive connections. Generation requests are counted and, when over the model's budget,
 * trimmed (or refused in the provider's own overflow shape) before anything leaves; responses are
 * relayed as they arrive, and watched for usage, time to first chunk and auth failures.
 *
 * A call goes through its steps with one record of its facts (`Call`): route (admit.ts), guard
 * (guard-call.ts), dispatch with the overflow retry (dispatch.ts), relay (relay.ts), finish
 * (finish.ts). What the steps share is the proxy's `ProxyContext`.
 */
export function createLlmProxy(deps: LlmProxyDeps) {
  const ctx = new ProxyContext(deps);
  return {
    handle: (req: IncomingMessage, res: ServerResponse) => handle(ctx, req, res),
    health: () => ctx.health.report(),
    checkCredentials: ctx.credentials.check,
    /** Aborts the relays still in flight (each is recorded as it ends), then closes. */
    close: () => ctx.close(),
  };
}

export type LlmProxy = ReturnType<typeof createLlmProxy>;

async function handle(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const call = await admit(ctx, req, res);
    if (call && (await guardCall(ctx, call))) await proxy(ctx, call);
  } catch (err) {
    // A client that leaves while its body is still coming is no failure of ours (a request read
    // to its end is destroyed too, once read: that is no abandonment).
    if ((req.destroyed || req.aborted) && !req.complete) {
      ctx.log.info("llm request abandoned by the client before it was read", {
        error: (err as Error).message,
      });
      if (!res.headersSent) res.destroy();
      return;
    }
    ctx.log.error("llm proxy failed", { error: (err as Error).stack ?? String(err) });
    if (!res.headersSent)
      sendJson(res, 500, { error: { code: "internal", message: "internal error (logged on the sidecar)" } });
    else res.destroy();
  }
}

/** A routed and guarded call: refused, or dispatched and relayed; finished either way. */
async function proxy(ctx: ProxyContext, call: Call): Promise<void> {
  const { req, res, provider } = call;
  // A client that left while its request was guarded (a big one can take seconds) is not sent on.
  if (res.destroyed || req.socket.destroyed) {
    ctx.log.info("llm request not sent: the client left while it was guarded", {
      provider: provider.id,
      model: call.guarded?.model ?? null,
      request_bytes: call.payload.length,
    });
    return;
  }
  const { span, context } = ctx.deps.telemetry.start(call.facts(), req.headers);
  try {
    const refusal = call.guarded?.refusal;
    if (refusal) {
      call.status = refusal.status;
      call.errorType = "context_length_exceeded";
      sendJson(res, refusal.status, refusal.body);
      return;
    }
    const headers = forwardHeaders(req.headers, provider);
    ctx.deps.telemetry.inject(context, headers);
    res.on("close", call.onClose); // taken off in the end (`once` would wrap it in one more closure)
    const answer = await dispatch(ctx, call, headers);
    if (answer) await relay(ctx, call, answer);
  } catch (err) {
    failRelay(ctx, call, err as Error);
  } finally {
    res.off("close", call.onClose);
    finish(ctx, call, span);
  }
}
