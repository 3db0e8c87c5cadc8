import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { EventDraft, EventSource } from "@clawguard/shared/events/envelope";
import { draftEvent } from "@clawguard/shared/events/envelope";
import type { Logger } from "@clawguard/shared/log";
import { Agent, type Dispatcher, request } from "undici";
import type { SpillStore } from "../exec-guard/spill.ts";
import type { LlmProxyConfig } from "./config.ts";
import { asRecord, type Conversation, type Counter, type Usage } from "./family.ts";
import { type Classified, classify, HealthBook } from "./health.ts";
import {
  capturedContent,
  drained,
  forwardHeaders,
  injectedCredential,
  isEventStream,
  MAX_ERROR_BODY,
  MAX_USAGE_BODY,
  MAX_WHOLE_BODY,
  readBody,
  readLimited,
  readPreamble,
  readUpTo,
  responseHeaders,
  sendJson,
  upperBound,
} from "./http.ts";
import type { Provider } from "./providers.ts";
import { SseReader } from "./sse.ts";
import type { LlmTelemetry } from "./telemetry.ts";
import { spillToolOutput } from "./tool-output.ts";
import { type TrimResult, trimConversation } from "./trim.ts";
import { dispatchCall, type UpstreamBody, type UpstreamResponse } from "./upstream.ts";

export interface Tokenizer extends Counter {
  /** Whether counts are the provider's own (a real tokenizer) or an estimate. */
  exact: boolean;
  /** Share of the window kept free for this tokenizer's counting error. */
  margin: number;
}

export interface LlmProxyDeps {
  config: LlmProxyConfig;
  providers: readonly Provider[];
  /** How to count a request for `model` of `requestBytes` (exact BPE, or an estimate for huge ones). */
  tokenizerFor(model: string, requestBytes: number): Tokenizer;
  spill: SpillStore;
  source: EventSource;
  /** Hands an audit event over for delivery; must not block the call. */
  publish(draft: EventDraft): void;
  telemetry: LlmTelemetry;
  log: Logger;
}

interface Guarded {
  model: string | undefined;
  stream: boolean;
  reserve?: number;
  budget?: number;
  counter?: Tokenizer;
  trim?: TrimResult;
  /** The answer when the request cannot be made to fit. */
  refusal?: { status: number; body: unknown };
}

/**
 * The LLM egress proxy: `/llm/<provider>/<path>` goes to the provider's upstream with pooled
 * keep-alive connections. Generation requests are counted and, when over the model's budget,
 * trimmed (or refused in the provider's own overflow shape) before anything leaves; responses are
 * relayed as they arrive, and watched for usage, time to first chunk and auth failures.
 */
export function createLlmProxy(deps: LlmProxyDeps) {
  const { config, log } = deps;
  const providers = new Map(deps.providers.map((p) => [p.id, p]));
  const health = new HealthBook(deps.providers);
  const dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 512 });
  /** The last credential headers each provider saw, for the credential checks (memory only). */
  const credentials = new Map<string, Record<string, string>>();

  function event(type: string, severity: EventDraft["severity"], attrs: Record<string, unknown>): void {
    deps.publish(draftEvent({ source: deps.source, type, severity, attrs }));
  }

  function noteOutcome(provider: Provider, outcome: Classified, status?: number): void {
    const change = health.record(provider.id, outcome);
    if (change === "degraded") {
      log.warn("provider degraded", { provider: provider.id, reason: outcome.reason });
      event("llm.auth_failed", "error", {
        provider: provider.id,
        api: provider.family.api,
        class: outcome.class,
        status: status ?? null,
        reason: outcome.reason ?? null,
      });
    } else if (change === "recovered") {
      event("llm.auth_recovered", "info", { provider: provider.id, api: provider.family.api });
    }
  }

  async function guard(provider: Provider, text: string, body: Record<string, unknown>): Promise<Guarded> {
    const family = provider.family;
    const model = typeof body.model === "string" ? body.model : undefined;
    const guarded: Guarded = { model, stream: body.stream === true };
    const limits =
      (model !== undefined ? provider.models.get(model) : undefined) ??
      (provider.defaultContextWindow ? { contextWindow: provider.defaultContextWindow } : undefined);
    if (!limits || model === undefined) return guarded; // nothing known to guard against
    const reserve = family.outputReserve(body) ?? limits.maxTokens ?? config.defaultReserveTokens;
    const counter = deps.tokenizerFor(model, text.length);
    const margin = Math.ceil(limits.contextWindow * (config.marginRatio ?? counter.margin));
    const budget = limits.contextWindow - reserve - margin;
    Object.assign(guarded, { reserve, budget, counter });
    if (upperBound(text) <= budget) return guarded; // cannot be over: no need to count
    const conversation: Conversation | undefined = family.conversation(body, text, counter);
    if (!conversation) return guarded;
    const trim = await trimConversation(family, text, conversation, {
      budget,
      spillAboveTokens: config.spillToolOutputsAboveTokens,
      counter,
      spill: spillFor(provider, model),
    });
    guarded.trim = trim;
    if (trim.changed) {
      health.count(provider.id, "trimmed");
      event("llm.trimmed", "warn", {
        provider: provider.id,
        model,
        budget,
        tokens_before: trim.tokensBefore,
        tokens_after: trim.tokensAfter,
        fits: trim.fits,
        spilled: trim.spilled.map((s) => s.id),
        spilled_tokens: trim.spilled.reduce((n, s) => n + s.tokens, 0),
        dropped_items: trim.droppedItems,
        dropped_tokens: trim.droppedTokens,
        exact_count: counter.exact,
      });
    }
    if (!trim.fits) {
      health.count(provider.id, "refused");
      // The guard's count with its margin: the numbers add up to more than the window.
      guarded.refusal = family.overflowError(
        limits.contextWindow,
        Math.ceil(trim.tokensAfter + margin),
        reserve,
      );
    }
    return guarded;
  }

  /** After the provider's own overflow error: trim to a budget scaled by how far off our count was. */
  async function trimHarder(
    provider: Provider,
    text: string,
    guarded: Guarded,
    overflow: { limit?: number; requested?: number },
  ): Promise<TrimResult | undefined> {
    const { counter, budget } = guarded;
    if (!counter || budget === undefined) return undefined;
    const conversation = provider.family.conversation(
      JSON.parse(text) as Record<string, unknown>,
      text,
      counter,
    );
    if (!conversation) return undefined;
    let counted = conversation.fixedTokens;
    for (const item of conversation.items) counted += item.tokens;
    const scale = overflow.limit && overflow.requested ? overflow.limit / overflow.requested : 0.8;
    const trim = await trimConversation(provider.family, text, conversation, {
      budget: Math.floor(Math.min(counted, budget) * Math.min(scale, 0.9)),
      spillAboveTokens: config.spillToolOutputsAboveTokens,
      counter,
      spill: spillFor(provider, guarded.model),
    });
    return trim.fits && trim.changed ? trim : undefined;
  }

  function spillFor(provider: Provider, model: string | undefined) {
    return (output: string, tokens: number) =>
      spillToolOutput(deps.spill, output, tokens, {
        agent: deps.source.agent,
        origin: `tool output in a ${provider.id} request (${model ?? "unknown model"})`,
      });
  }

  async function proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://sidecar");
    const match = /^\/llm\/([^/]+)\/?(.*)$/.exec(url.pathname);
    const provider = match ? providers.get(decodeURIComponent(match[1] as string)) : undefined;
    if (!match || !provider) {
      const known = [...providers.keys()].join(", ") || "none configured";
      sendJson(res, 404, {
        error: {
          code: "not_found",
          message: `no LLM provider at ${url.pathname}: expected /llm/<provider>/<path>, providers: ${known}`,
        },
      });
      return;
    }
    const family = provider.family;
    const path = match[2] as string;
    if (path.split("/").some((segment) => segment === ".." || segment === ".")) {
      const { status, body } = family.error(400, `clawguard: path ${JSON.stringify(path)} has dot segments`);
      sendJson(res, status, body);
      return;
    }
    const raw = await readBody(req, config.maxRequestBytes);
    if (raw === undefined) {
      const { status, body } = family.error(
        413,
        `clawguard: request body over llm.maxRequestBytes (${config.maxRequestBytes} bytes)`,
      );
      res.setHeader("connection", "close");
      sendJson(res, status, body);
      return;
    }
    const method = req.method ?? "GET";
    let payload: Buffer = raw;
    let guarded: Guarded | undefined;
    if (family.isGeneration(method, path) && raw.length > 0) {
      const text = raw.toString("utf8");
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        const { status, body: error } = family.error(
          400,
          `clawguard: the request body is not valid JSON: ${(err as Error).message}`,
        );
        sendJson(res, status, error);
        return;
      }
      const record = asRecord(body);
      if (record) {
        guarded = await guard(provider, text, record);
        if (guarded.trim?.changed) payload = Buffer.from(guarded.trim.text, "utf8");
      }
    }
    const target = new URL(path + url.search, provider.upstream);
    const { span, context } = deps.telemetry.start(
      { providerId: provider.id, family, model: guarded?.model, server: target },
      req.headers,
    );
    const usage: Usage = {};
    let status: number | undefined;
    let errorType: string | undefined;
    let ttftMs: number | undefined;
    let retried = false;
    let responseBytes = 0;
    /** The call in flight to the provider, stopped when the client goes away. */
    let call: UpstreamBody | undefined;
    let clientGone = false;
    const onClose = () => {
      if (res.writableFinished) return;
      clientGone = true;
      call?.destroy(new Error("the client went away"));
    };
    try {
      if (guarded?.refusal) {
        status = guarded.refusal.status;
        errorType = "context_length_exceeded";
        sendJson(res, status, guarded.refusal.body);
        return;
      }
      const headers = forwardHeaders(req.headers, provider);
      deps.telemetry.inject(context, headers);
      res.once("close", onClose);
      const send = (body: Buffer) => {
        const started = dispatchCall(dispatcher, {
          origin: target.origin,
          path: target.pathname + target.search,
          method: method as Dispatcher.HttpMethod,
          headers: { ...headers, "content-length": String(body.length) },
          body: method === "GET" || method === "HEAD" ? null : body,
          headersTimeout: config.headersTimeoutMs,
          bodyTimeout: config.bodyTimeoutMs,
        });
        call = started.body;
        return started.response;
      };
      let upstream: UpstreamResponse;
      let held: Buffer[] = [];
      let chunks: AsyncIterator<Buffer> | undefined;
      for (;;) {
        try {
          upstream = await send(payload);
        } catch (err) {
          // The client left before the provider answered: nobody to answer, and no failure of the provider's.
          if (clientGone) {
            errorType = "client_aborted";
            return;
          }
          status = 502;
          errorType = "network";
          noteOutcome(provider, { class: "network" });
          const { status: s, body } = family.error(
            502,
            `clawguard: cannot reach ${provider.id} at ${target.origin}: ${(err as Error).message}`,
          );
          if (!res.headersSent && !res.destroyed) sendJson(res, s, body);
          return;
        }
        chunks = undefined;
        held = [];
        let overflowText: string | undefined;
        if (upstream.statusCode >= 400) {
          held = [await readLimited(upstream.body, MAX_ERROR_BODY)];
          overflowText = held[0]?.toString("utf8");
        } else if (guarded && family.api === "openai-responses" && isEventStream(upstream.headers)) {
          // The Responses API reports an overflow inside a 200 stream: hold its first events back.
          chunks = upstream.body;
          const preamble = await readPreamble(chunks);
          held = preamble.chunks;
          overflowText = preamble.error;
        }
        const overflow =
          overflowText !== undefined
            ? family.parseOverflow(upstream.statusCode === 200 ? 400 : upstream.statusCode, overflowText)
            : undefined;
        if (!overflow || retried || !guarded || !config.retryOnOverflow) break;
        const harder = await trimHarder(provider, payload.toString("utf8"), guarded, overflow);
        if (!harder) break;
        upstream.body.destroy();
        retried = true;
        guarded.trim = harder;
        event("llm.trimmed", "warn", {
          provider: provider.id,
          model: guarded.model,
          after_provider_overflow: true,
          tokens_before: harder.tokensBefore,
          tokens_after: harder.tokensAfter,
          spilled: harder.spilled.map((s) => s.id),
          dropped_items: harder.droppedItems,
          dropped_tokens: harder.droppedTokens,
        });
        payload = Buffer.from(harder.text, "utf8");
      }
      status = upstream.statusCode;
      if (status >= 400) {
        const errorBody = Buffer.concat(held);
        const outcome = classify(provider.id, family, status, upstream.headers, errorBody.toString("utf8"));
        errorType = outcome.class === "client_error" ? String(status) : outcome.class;
        noteOutcome(provider, outcome, status);
        res.writeHead(status, responseHeaders(upstream.headers));
        res.end(errorBody);
        responseBytes = errorBody.length;
        return;
      }
      noteOutcome(provider, { class: "ok" }, status);
      rememberCredential(provider, req.headers);
      const declared = Number(upstream.headers["content-length"]);
      if (!isEventStream(upstream.headers) && held.length === 0 && !(declared > MAX_WHOLE_BODY)) {
        // A whole answer (its length declared or not) up to MAX_WHOLE_BODY goes out in one write,
        // headers and body together: one syscall, not one per chunk and one more for the end.
        chunks = upstream.body;
        const read = await readUpTo(chunks, MAX_WHOLE_BODY);
        if (read.ended) {
          const whole = Buffer.concat(read.chunks);
          ttftMs = performance.now() - started;
          responseBytes = whole.length;
          res.writeHead(status, responseHeaders(upstream.headers, whole.length));
          res.end(whole);
          try {
            family.usageFromJson(JSON.parse(whole.toString("utf8")), usage);
          } catch {
            // Not JSON (or not one we read): relayed as it came.
          }
          return;
        }
        held = read.chunks; // longer than that: relayed as it comes, from here on
      }
      res.writeHead(status, responseHeaders(upstream.headers));
      const reader = isEventStream(upstream.headers)
        ? new SseReader((data) => family.usageFromEvent(data, usage))
        : undefined;
      const kept: Buffer[] = [];
      let keptBytes = 0;
      const relay = async (chunk: Buffer) => {
        ttftMs ??= performance.now() - started;
        responseBytes += chunk.length;
        // Until drained or closed: a client that stops reading and then leaves never drains, and this
        // call would wait forever (no llm.request event, its span never ended).
        if (!res.write(chunk)) await drained(res);
        if (reader) reader.push(chunk);
        else if (keptBytes + chunk.length <= MAX_USAGE_BODY) {
          kept.push(chunk);
          keptBytes += chunk.length;
        }
      };
      for (const chunk of held) await relay(chunk);
      chunks ??= upstream.body;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) await relay(next.value);
      res.end();
      if (reader) reader.end();
      else if (keptBytes === responseBytes) {
        try {
          family.usageFromJson(JSON.parse(Buffer.concat(kept).toString("utf8")), usage);
        } catch {
          // Not JSON (or not one we read): relayed as it came.
        }
      }
    } catch (err) {
      errorType ??= res.destroyed ? "client_aborted" : "relay_failed";
      // The provider's answer broke off (after its headers were counted as an outcome): its health says so.
      if (errorType === "relay_failed") health.count(provider.id, "relay_failed");
      if (!res.headersSent) {
        const { status: s, body } = family.error(
          502,
          `clawguard: relay from ${provider.id} failed: ${(err as Error).message}`,
        );
        status = s;
        sendJson(res, s, body);
      } else res.destroy();
    } finally {
      res.off("close", onClose);
      const durationMs = performance.now() - started;
      const trim = guarded?.trim;
      if (usage.inputTokens !== undefined)
        health.tokens(provider.id, usage.inputTokens, usage.cacheReadTokens ?? 0);
      deps.telemetry.end(span, {
        providerId: provider.id,
        family,
        model: guarded?.model,
        server: target,
        stream: guarded?.stream ?? false,
        maxTokens: guarded?.reserve,
        ...(status !== undefined ? { status } : {}),
        errorType,
        usage,
        ttftMs: guarded?.stream ? ttftMs : undefined,
        durationMs,
        trimmed: trim?.changed ?? false,
        tokensBefore: trim?.tokensBefore,
        tokensAfter: trim?.tokensAfter,
        inputMessages: config.captureContent && guarded ? capturedContent(family, payload) : undefined,
      });
      if (guarded) {
        event("llm.request", errorType ? "warn" : "info", {
          provider: provider.id,
          api: family.api,
          model: guarded.model ?? null,
          stream: guarded.stream,
          status: status ?? null,
          error_type: errorType ?? null,
          duration_ms: Math.round(durationMs),
          ttft_ms: ttftMs === undefined ? null : Math.round(ttftMs),
          input_tokens: usage.inputTokens ?? null,
          output_tokens: usage.outputTokens ?? null,
          cache_read_tokens: usage.cacheReadTokens ?? null,
          finish_reasons: usage.finishReasons ?? null,
          request_bytes: payload.length,
          response_bytes: responseBytes,
          trimmed: trim?.changed ?? false,
          retried,
        });
      }
    }
  }

  function rememberCredential(provider: Provider, headers: IncomingHttpHeaders): void {
    if (provider.apiKey) return;
    const kept: Record<string, string> = {};
    for (const name of [
      "authorization",
      "x-api-key",
      "anthropic-version",
      "openai-organization",
      "openai-project",
    ]) {
      const value = headers[name];
      if (typeof value === "string") kept[name] = value;
    }
    if (kept.authorization || kept["x-api-key"]) credentials.set(provider.id, kept);
  }

  /**
   * A cheap authenticated request per provider (its model list): a key that stopped working shows
   * before the agent's next turn fails. Uses the configured key, else the last one the agent sent.
   */
  async function checkCredentials(): Promise<void> {
    await Promise.all(
      [...providers.values()].map(async (provider) => {
        const headers = provider.apiKey ? injectedCredential(provider) : credentials.get(provider.id);
        if (!headers) return;
        const family = provider.family;
        const path =
          family.api === "anthropic-messages" && !provider.upstream.pathname.endsWith("/v1/")
            ? "v1/models"
            : "models";
        const target = new URL(path, provider.upstream);
        try {
          const answer = await request(target, {
            dispatcher,
            method: "GET",
            headers: {
              ...headers,
              ...(family.api === "anthropic-messages"
                ? { "anthropic-version": headers["anthropic-version"] ?? "2023-06-01" }
                : {}),
            },
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          const text = (await readLimited(answer.body, MAX_ERROR_BODY)).toString("utf8");
          const outcome = classify(provider.id, family, answer.statusCode, answer.headers, text);
          const change = health.checked(provider.id, outcome, answer.statusCode);
          if (change === "degraded") {
            event("llm.auth_failed", "error", {
              provider: provider.id,
              api: family.api,
              class: outcome.class,
              status: answer.statusCode,
              reason: outcome.reason ?? null,
              check: true,
            });
          } else if (change === "recovered")
            event("llm.auth_recovered", "info", { provider: provider.id, check: true });
        } catch (err) {
          health.checked(provider.id, { class: "network" });
          log.warn("credential check failed", { provider: provider.id, error: (err as Error).message });
        }
      }),
    );
  }

  return {
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      try {
        await proxy(req, res);
      } catch (err) {
        log.error("llm proxy failed", { error: (err as Error).stack ?? String(err) });
        if (!res.headersSent)
          sendJson(res, 500, {
            error: { code: "internal", message: "internal error (logged on the sidecar)" },
          });
        else res.destroy();
      }
    },
    health: () => health.report(),
    checkCredentials,
    close: () => dispatcher.close(),
  };
}

export type LlmProxy = ReturnType<typeof createLlmProxy>;
