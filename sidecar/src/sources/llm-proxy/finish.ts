import { estimateOf, MIN_SAMPLE_TOKENS } from "./calibration.ts";
import type { Call } from "./call.ts";
import type { ProxyContext } from "./context.ts";
import { capturedContent } from "./http.ts";
import type { LlmTelemetry } from "./telemetry.ts";

type Span = Parameters<LlmTelemetry["end"]>[0];

/** The finish step: the call's span, metrics and `llm.request` event; a calibration sample. */
export function finish(ctx: ProxyContext, call: Call, span: Span): void {
  const { provider, guarded, usage } = call;
  const durationMs = performance.now() - call.started;
  if (usage.inputTokens !== undefined)
    ctx.health.tokens(provider.id, usage.inputTokens, usage.cacheReadTokens ?? 0);
  const trim = guarded?.trim;
  const model = call.model;
  const { telemetry } = ctx.deps;
  if (telemetry.enabled)
    telemetry.end(span, {
      providerId: provider.id,
      operation: call.operation,
      family: provider.family,
      model,
      server: call.server,
      stream: guarded?.stream ?? false,
      maxTokens: guarded?.requestedReserve,
      ...(call.status !== undefined ? { status: call.status } : {}),
      errorType: call.errorType,
      usage,
      ttftMs: guarded?.stream ? call.ttftMs : undefined,
      durationMs,
      trimmed: trim?.changed ?? false,
      tokensBefore: trim?.tokensBefore,
      tokensAfter: trim?.tokensAfter,
      inputMessages:
        ctx.config.captureContent && guarded ? capturedContent(provider.family, call.payload) : undefined,
    });
  // Every call that names a model is one (embeddings too: a failing embeddings provider counts in
  // the collector's metrics and alerts); a listing of models is not.
  if (!guarded && model === undefined) return;
  ctx.event("llm.request", call.errorType ? "warn" : "info", requestAttrs(call, model, durationMs));
  calibrate(ctx, call);
}

/**
 * The attributes of a call's `llm.request` event, their keys in sorted order: the chain's canonical
 * form takes an object whose keys are in order as it is, where it would build a sorted copy of it
 * (one per call).
 */
function requestAttrs(call: Call, model: string | undefined, durationMs: number): Record<string, unknown> {
  const { provider, guarded, usage } = call;
  return {
    api: provider.family.api,
    cache_read_tokens: usage.cacheReadTokens ?? null,
    counted_tokens:
      guarded?.counted && guarded.correction
        ? Math.round(estimateOf(guarded.counted.total, guarded.correction).estimate)
        : null,
    counter: guarded?.counter?.name ?? null,
    decided_by: guarded?.decidedBy ?? null,
    duration_ms: Math.round(durationMs),
    error_type: call.errorType ?? null,
    finish_reasons: usage.finishReasons ?? null,
    input_tokens: usage.inputTokens ?? null,
    model: model ?? null,
    operation: call.operation,
    output_tokens: usage.outputTokens ?? null,
    provider: provider.id,
    request_bytes: call.payload.length,
    response_bytes: call.responseBytes,
    retried: call.retried,
    status: call.status ?? null,
    stream: guarded?.stream ?? false,
    trimmed: guarded?.trim?.changed ?? false,
    ttft_ms: call.ttftMs === undefined ? null : Math.round(call.ttftMs),
  };
}

/**
 * Compares the provider's reported prompt size with the guard's count of the request as sent:
 * counted before the call when the guard had to, else afterwards (off the call's path) for the
 * first calls of a model and then one call in twenty.
 */
function calibrate(ctx: ProxyContext, call: Call): void {
  const { guarded, usage, provider } = call;
  const { calibration } = ctx.deps;
  const reported = usage.inputTokens;
  if (!guarded?.counter || guarded.model === undefined || reported === undefined) return;
  if (call.status === undefined || call.status >= 300 || call.payload.length < MIN_SAMPLE_TOKENS) return;
  const model = guarded.model;
  const counter = { name: guarded.counter.name, bound: ctx.config.marginRatio ?? guarded.counter.margin };
  ctx.sampled++;
  if (guarded.counted !== undefined) {
    calibration.record(provider.id, model, counter, guarded.counted, reported);
    return;
  }
  if (guarded.countedLater) {
    void guarded.countedLater.then((counted) => {
      if (counted !== undefined) calibration.record(provider.id, model, counter, counted, reported);
    });
    return;
  }
  if (!calibration.wants(provider.id, model, ctx.sampled)) return;
  const payload = call.payload;
  setImmediate(() => {
    try {
      const counted = ctx.guard.countAfter(provider, guarded, payload.toString("utf8"));
      if (counted !== undefined) calibration.record(provider.id, model, counter, counted, reported);
    } catch (err) {
      ctx.log.warn("llm calibration sample not taken", {
        provider: provider.id,
        error: (err as Error).message,
      });
    }
  });
}
