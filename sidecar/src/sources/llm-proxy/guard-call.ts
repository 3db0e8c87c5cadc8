import type { IncomingHttpHeaders } from "node:http";
import type { Call } from "./call.ts";
import type { ProxyContext } from "./context.ts";
import { type Guarded, guardRequest } from "./guard.ts";
import { type GuardOutcome, WORKER_MIN_BYTES } from "./guard-pool.ts";
import { sendJson } from "./http.ts";
import type { Provider } from "./providers.ts";

type Verdict = { invalid?: string; guarded?: Guarded };

/**
 * The guard step: a generation request is counted and, when over its model's window, trimmed (on
 * this thread, or in the guard's worker when it is big). False when the request was answered here
 * (a body that is not JSON the guard may walk).
 */
export async function guardCall(ctx: ProxyContext, call: Call): Promise<boolean> {
  const { provider, method } = call;
  const raw = call.payload;
  if (!provider.family.isGeneration(method, call.route.path) || raw.length === 0) return true;
  const outcome =
    raw.length >= WORKER_MIN_BYTES
      ? await guardAway(ctx, provider, raw, call.req.headers)
      : await guardHere(ctx, provider, raw, call.req.headers);
  if (outcome.invalid !== undefined) {
    const { status, body } = provider.family.error(
      400,
      `clawguard: the request body is not valid JSON: ${outcome.invalid}`,
    );
    sendJson(call.res, status, body);
    return false;
  }
  call.guarded = outcome.guarded;
  if (call.guarded?.trim?.changed) call.payload = Buffer.from(call.guarded.trim.text, "utf8");
  return true;
}

/**
 * Guards a request on this thread. If the guard fails (a spill it cannot write: the spill folder
 * is a link, the disk is full), the request goes through unguarded (logged), as from the worker.
 */
async function guardHere(
  ctx: ProxyContext,
  provider: Provider,
  raw: Buffer,
  headers: IncomingHttpHeaders,
): Promise<Verdict> {
  try {
    return await guardRequest(ctx.guard, provider, raw.toString("utf8"), headers);
  } catch (err) {
    ctx.log.warn("llm request sent unguarded: the guard failed", {
      provider: provider.id,
      error: (err as Error).message,
    });
    return {};
  }
}

/**
 * Guards a big request in the worker thread and applies what the guard published there. If the
 * worker fails, the request goes through unguarded (logged): never worse than no guard.
 */
async function guardAway(
  ctx: ProxyContext,
  provider: Provider,
  raw: Buffer,
  headers: IncomingHttpHeaders,
): Promise<Verdict> {
  const { deps, log } = ctx;
  let reply: GuardOutcome;
  try {
    reply = await ctx.worker.run({
      provider: {
        id: provider.id,
        api: provider.family.api,
        upstream: provider.upstream.href,
        models: [...provider.models],
        defaultContextWindow: provider.defaultContextWindow,
        tokenizer: provider.tokenizer,
      },
      config: ctx.config,
      calibration: deps.calibration.snapshot(provider.id),
      spillDir: deps.spill.dir,
      spillWorkspace: deps.spill.workspace,
      agent: deps.source.agent,
      headers,
      body: raw,
    });
  } catch (err) {
    reply = { id: 0, events: [], counts: [], logs: [], error: (err as Error).message };
  }
  for (const [level, msg, fields] of reply.logs) log[level](msg, fields);
  for (const e of reply.events) ctx.event(e.type, e.severity, e.attrs);
  for (const what of reply.counts) ctx.health.count(provider.id, what);
  if (reply.error !== undefined) {
    log.warn("llm request sent unguarded: the guard worker failed", {
      provider: provider.id,
      error: reply.error,
    });
    return {};
  }
  const sent = reply.guarded;
  if (!sent) return reply.invalid === undefined ? {} : { invalid: reply.invalid };
  const { counter, ...rest } = sent;
  const model = rest.model ?? "";
  // The counter's function stays here: for a retry after the provider's overflow answer.
  const counting = counter
    ? { ...counter, count: deps.tokenizerFor(model, raw.length, provider).count }
    : undefined;
  const later = reply.counted ? { countedLater: reply.counted } : {};
  return { guarded: { ...rest, ...later, ...(counting ? { counter: counting } : {}) } };
}
