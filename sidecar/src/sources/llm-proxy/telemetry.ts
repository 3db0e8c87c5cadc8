import type { IncomingHttpHeaders } from "node:http";
import type { Telemetry } from "@clawguard/shared/telemetry";
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { Family, Usage } from "./family.ts";

/**
 * One span per LLM call and the GenAI client metrics, named as the OpenTelemetry GenAI semantic
 * conventions name them (gen_ai.*). No message content unless configured.
 */

export interface CallFacts {
  providerId: string;
  /** gen_ai.operation.name, from the endpoint called (see operationOf). */
  operation: string;
  family: Family;
  model: string | undefined;
  server: URL;
  stream: boolean;
  maxTokens?: number | undefined;
  status?: number;
  errorType?: string | undefined;
  usage: Usage;
  ttftMs?: number | undefined;
  durationMs: number;
  trimmed: boolean;
  tokensBefore?: number | undefined;
  tokensAfter?: number | undefined;
  /** Only with llm.captureContent: the request's messages as sent, redacted and cut. */
  inputMessages?: string | undefined;
}

/**
 * The GenAI operation of an endpoint (the path after /llm/<provider>/): embeddings are not chat.
 * The conventions' names: chat, embeddings, text_completion; anything else "other".
 */
export function operationOf(path: string): string {
  const p = path.split("?")[0]?.replace(/\/+$/, "") ?? "";
  if (/(^|\/)embeddings$/.test(p)) return "embeddings";
  if (/(^|\/)chat\/completions$/.test(p) || /(^|\/)(responses|messages)$/.test(p)) return "chat";
  if (/(^|\/)completions$/.test(p)) return "text_completion";
  return "other";
}

/** Tracing off: one inert span for every call, nothing built per call. */
const NOT_TRACED = { span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT), context: ROOT_CONTEXT };

const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** A 0-1 ratio: tenths, with 0.7 (the seed's cache target) a bound. */
const RATIO_BUCKETS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];

export class LlmTelemetry {
  readonly #telemetry: Telemetry;
  readonly #duration;
  readonly #ttft;
  readonly #tokens;
  readonly #cacheHit;
  readonly #errors;

  constructor(telemetry: Telemetry) {
    this.#telemetry = telemetry;
    const meter = telemetry.meter;
    this.#duration = meter.createHistogram("gen_ai.client.operation.duration", {
      unit: "s",
      description: "GenAI operation duration",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.#ttft = meter.createHistogram("gen_ai.client.operation.time_to_first_chunk", {
      unit: "s",
      description: "Time to receive the first chunk of a streaming response",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.#tokens = meter.createHistogram("gen_ai.client.token.usage", {
      unit: "{token}",
      description: "Number of input and output tokens used",
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
    this.#cacheHit = meter.createHistogram("clawguard.llm.prompt_cache.hit_ratio", {
      unit: "1",
      description: "Share of a call's input tokens read from the provider's prompt cache",
      advice: { explicitBucketBoundaries: RATIO_BUCKETS },
    });
    this.#errors = meter.createCounter("clawguard.llm.errors", {
      unit: "{call}",
      description:
        "LLM calls that failed, by error.type (auth, intermediary, rate_limited, server_error, ...)",
    });
  }

  /** Whether spans and metrics are recorded at all (a call's facts need not be gathered for them). */
  get enabled(): boolean {
    return this.#telemetry.enabled;
  }

  /** The span for a call, parented to the caller's trace (its `traceparent`). */
  start(
    facts: Pick<CallFacts, "providerId" | "operation" | "family" | "model" | "server">,
    headers: IncomingHttpHeaders,
  ): {
    span: Span;
    context: Context;
  } {
    if (!this.#telemetry.enabled) return NOT_TRACED;
    const parent = propagation.extract(context.active(), headers);
    const span = this.#telemetry.tracer.startSpan(
      `${facts.operation} ${facts.model ?? ""}`.trim(),
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "gen_ai.operation.name": facts.operation,
          "gen_ai.provider.name": facts.family.providerName,
          ...(facts.model ? { "gen_ai.request.model": facts.model } : {}),
          "server.address": facts.server.hostname,
          "server.port": Number(facts.server.port) || (facts.server.protocol === "https:" ? 443 : 80),
          "clawguard.llm.provider": facts.providerId,
          "clawguard.llm.api": facts.family.api,
        },
      },
      parent,
    );
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Sets the outgoing `traceparent` to the call's span (or leaves the caller's, when tracing is off). */
  inject(ctx: Context, headers: Record<string, string>): void {
    if (this.#telemetry.enabled) propagation.inject(ctx, headers);
  }

  end(span: Span, facts: CallFacts): void {
    if (!this.#telemetry.enabled) return;
    const u = facts.usage;
    const attributes = {
      "gen_ai.operation.name": facts.operation,
      "gen_ai.provider.name": facts.family.providerName,
      ...(facts.model ? { "gen_ai.request.model": facts.model } : {}),
      ...(u.responseModel ? { "gen_ai.response.model": u.responseModel } : {}),
      ...(facts.errorType ? { "error.type": facts.errorType } : {}),
    };
    span.setAttributes({
      ...(facts.maxTokens !== undefined ? { "gen_ai.request.max_tokens": facts.maxTokens } : {}),
      ...(u.responseId ? { "gen_ai.response.id": u.responseId } : {}),
      ...(u.finishReasons ? { "gen_ai.response.finish_reasons": u.finishReasons } : {}),
      ...(u.inputTokens !== undefined ? { "gen_ai.usage.input_tokens": u.inputTokens } : {}),
      ...(u.outputTokens !== undefined ? { "gen_ai.usage.output_tokens": u.outputTokens } : {}),
      ...(u.cacheReadTokens !== undefined
        ? { "gen_ai.usage.cache_read.input_tokens": u.cacheReadTokens }
        : {}),
      ...(u.cacheWriteTokens !== undefined
        ? { "gen_ai.usage.cache_creation.input_tokens": u.cacheWriteTokens }
        : {}),
      ...(facts.ttftMs !== undefined ? { "gen_ai.response.time_to_first_chunk": facts.ttftMs / 1000 } : {}),
      ...(facts.status !== undefined ? { "http.response.status_code": facts.status } : {}),
      "clawguard.llm.stream": facts.stream,
      "clawguard.llm.trimmed": facts.trimmed,
      ...(facts.tokensBefore !== undefined ? { "clawguard.llm.tokens_before": facts.tokensBefore } : {}),
      ...(facts.tokensAfter !== undefined ? { "clawguard.llm.tokens_after": facts.tokensAfter } : {}),
      ...(facts.inputMessages !== undefined ? { "gen_ai.input.messages": facts.inputMessages } : {}),
      ...attributes,
    });
    if (facts.errorType) span.setStatus({ code: SpanStatusCode.ERROR, message: facts.errorType });
    span.end();

    this.#duration.record(facts.durationMs / 1000, attributes);
    if (facts.stream && facts.ttftMs !== undefined) this.#ttft.record(facts.ttftMs / 1000, attributes);
    if (u.inputTokens !== undefined)
      this.#tokens.record(u.inputTokens, { ...attributes, "gen_ai.token.type": "input" });
    if (u.outputTokens !== undefined) {
      this.#tokens.record(u.outputTokens, { ...attributes, "gen_ai.token.type": "output" });
    }
    if (u.inputTokens) this.#cacheHit.record((u.cacheReadTokens ?? 0) / u.inputTokens, attributes);
    if (facts.errorType) this.#errors.add(1, attributes);
  }
}
