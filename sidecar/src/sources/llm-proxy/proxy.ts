import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { EventDraft, EventSource } from "@clawguard/shared/events/envelope";
import { draftEvent } from "@clawguard/shared/events/envelope";
import type { Logger } from "@clawguard/shared/log";
import { Agent, type Dispatcher } from "undici";
import type { SpillStore } from "../exec-guard/spill.ts";
import { type Calibration, estimateOf, MIN_SAMPLE_TOKENS } from "./calibration.ts";
import type { LlmProxyConfig } from "./config.ts";
import { countByProvider } from "./count-endpoint.ts";
import { createCredentialChecks } from "./credentials.ts";
import type { Usage } from "./family.ts";
import { createGuard, type Guarded, guardRequest, type Tokenizer } from "./guard.ts";
import { type GuardOutcome, GuardWorker, WORKER_MIN_BYTES } from "./guard-pool.ts";
import { type Classified, classify, HealthBook } from "./health.ts";
import {
  BodyBudget,
  capturedContent,
  drained,
  forwardHeaders,
  isEventStream,
  KeyScrubber,
  MAX_ERROR_BODY,
  MAX_USAGE_BODY,
  MAX_WHOLE_BODY,
  readBody,
  readLimited,
  readPreamble,
  readUpTo,
  responseHeaders,
  scrubHeaders,
  scrubKey,
  sendJson,
} from "./http.ts";
import type { Provider } from "./providers.ts";
import { type Route, routeOf } from "./route.ts";
import { SseReader } from "./sse.ts";
import { type LlmTelemetry, operationOf } from "./telemetry.ts";
import { estimateFor, tokenizerSetting } from "./tokenizer.ts";
import { dispatchCall, type UpstreamBody, type UpstreamResponse } from "./upstream.ts";

export type { Tokenizer } from "./guard.ts";

export interface LlmProxyDeps {
  config: LlmProxyConfig;
  providers: readonly Provider[];
  /** How to count a request for `model` of `requestBytes` on `provider` (its `tokenizer:` setting wins). */
  tokenizerFor(model: string, requestBytes: number, provider: Provider): Tokenizer;
  calibration: Calibration;
  spill: SpillStore;
  source: EventSource;
  /** Hands an audit event over for delivery; must not block the call. */
  publish(draft: EventDraft): void;
  telemetry: LlmTelemetry;
  log: Logger;
}

/** What provider APIs use; TRACE (which echoes the request, key included), CONNECT and the rest are not sent on. */
const FORWARDED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

/** One record of a call's facts, passed from step to step: route, guard, dispatch, relay, finish. */
interface Call {
  readonly started: number;
  readonly route: Route;
  readonly method: string;
  readonly server: URL;
  guarded?: Guarded | undefined;
  /** The body as sent (trimmed, when the guard trimmed it). */
  payload: Buffer;
  usage: Usage;
  status?: number;
  errorType?: string;
  ttftMs?: number;
  retried: boolean;
  responseBytes: number;
  /** The provider's answer in flight, stopped when the client goes away. */
  inFlight?: UpstreamBody;
  clientGone: boolean;
}

/** The provider's answer once the overflow retry is settled: its first chunks may be held back. */
interface Answer {
  upstream: UpstreamResponse;
  held: Buffer[];
  chunks?: AsyncIterator<Buffer> | undefined;
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
  let calls = 0;

  function event(type: string, severity: EventDraft["severity"], attrs: Record<string, unknown>): void {
    deps.publish(draftEvent({ source: deps.source, type, severity, attrs }));
  }

  const worker = new GuardWorker(log);
  const guard = createGuard({
    config,
    tokenizerFor: deps.tokenizerFor,
    estimateFor: (model, provider) => estimateFor(model, tokenizerSetting(provider, model)),
    calibration: deps.calibration,
    spill: deps.spill,
    agent: deps.source.agent,
    countByProvider: (provider, body, headers) => countByProvider(dispatcher, provider, body, headers, log),
    event,
    counted: (provider, what) => health.count(provider.id, what),
    away: worker,
    log,
  });
  const bodies = new BodyBudget(config.maxPendingBodyBytes);
  const credentials = createCredentialChecks({ dispatcher, health, providers: deps.providers, event, log });

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

  /** Reads and guards the request; undefined when it was answered here (bad path, body or JSON). */
  async function admit(req: IncomingMessage, res: ServerResponse): Promise<Call | undefined> {
    const routed = routeOf(req.url ?? "/", providers);
    if (!("origin" in routed)) {
      const family = routed.provider?.family;
      const shaped = family ? family.error(routed.status, routed.message) : undefined;
      sendJson(res, routed.status, shaped?.body ?? { error: { code: "not_found", message: routed.message } });
      return undefined;
    }
    const { family } = routed.provider;
    if (!FORWARDED_METHODS.has(req.method ?? "")) {
      const { status, body } = family.error(
        405,
        `clawguard: method ${req.method} is not proxied to providers`,
      );
      res.setHeader("allow", [...FORWARDED_METHODS].join(", "));
      sendJson(res, status, body);
      return undefined;
    }
    const read = await readBody(req, config.maxRequestBytes, bodies);
    if ("refused" in read) {
      const { status, body } =
        read.refused === "too_large"
          ? family.error(
              413,
              `clawguard: request body over llm.maxRequestBytes (${config.maxRequestBytes} bytes)`,
            )
          : family.error(
              503,
              `clawguard: ${bodies.maxBytes} bytes of request bodies are being received already (llm.maxPendingBodyBytes): try again shortly`,
            );
      res.setHeader("connection", "close");
      if (read.refused === "busy") res.setHeader("retry-after", "1");
      sendJson(res, status, body);
      return undefined;
    }
    const raw = read.body;
    const method = req.method ?? "GET";
    const call: Call = {
      started: performance.now(),
      route: routed,
      method,
      server: new URL(routed.target, routed.origin),
      payload: raw,
      usage: {},
      retried: false,
      responseBytes: 0,
      clientGone: false,
    };
    if (!family.isGeneration(method, routed.path) || raw.length === 0) return call;
    const outcome =
      raw.length >= WORKER_MIN_BYTES
        ? await guardAway(routed.provider, raw, req.headers)
        : await guardHere(routed.provider, raw, req.headers);
    if (outcome.invalid !== undefined) {
      const { status, body } = family.error(
        400,
        `clawguard: the request body is not valid JSON: ${outcome.invalid}`,
      );
      sendJson(res, status, body);
      return undefined;
    }
    call.guarded = outcome.guarded;
    if (call.guarded?.trim?.changed) call.payload = Buffer.from(call.guarded.trim.text, "utf8");
    return call;
  }

  /**
   * Guards a request on this thread. If the guard fails (a spill it cannot write: the spill folder
   * is a link, the disk is full), the request goes through unguarded (logged), as from the worker.
   */
  async function guardHere(
    provider: Provider,
    raw: Buffer,
    headers: IncomingHttpHeaders,
  ): Promise<{ invalid?: string; guarded?: Guarded }> {
    try {
      return await guardRequest(guard, provider, raw.toString("utf8"), headers);
    } catch (err) {
      log.warn("llm request sent unguarded: the guard failed", {
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
    provider: Provider,
    raw: Buffer,
    headers: IncomingHttpHeaders,
  ): Promise<{ invalid?: string; guarded?: Guarded }> {
    let reply: GuardOutcome;
    try {
      reply = await worker.run({
        provider: {
          id: provider.id,
          api: provider.family.api,
          upstream: provider.upstream.href,
          models: [...provider.models],
          defaultContextWindow: provider.defaultContextWindow,
          tokenizer: provider.tokenizer,
        },
        config,
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
    for (const e of reply.events) event(e.type, e.severity, e.attrs);
    for (const what of reply.counts) health.count(provider.id, what);
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

  async function proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call = await admit(req, res);
    if (!call) return;
    // A client that left while its request was guarded (a big one can take seconds) is not sent on.
    if (res.destroyed || req.socket.destroyed) {
      log.info("llm request not sent: the client left while it was guarded", {
        provider: call.route.provider.id,
        model: call.guarded?.model ?? null,
        request_bytes: call.payload.length,
      });
      return;
    }
    const { provider } = call.route;
    const { span, context } = deps.telemetry.start(
      {
        providerId: provider.id,
        operation: operationOf(call.route.path),
        family: provider.family,
        model: modelOf(call),
        server: call.server,
      },
      req.headers,
    );
    const onClose = () => {
      if (res.writableFinished) return;
      call.clientGone = true;
      call.inFlight?.destroy(new Error("the client went away"));
    };
    try {
      if (call.guarded?.refusal) {
        call.status = call.guarded.refusal.status;
        call.errorType = "context_length_exceeded";
        sendJson(res, call.status, call.guarded.refusal.body);
        return;
      }
      const headers = forwardHeaders(req.headers, provider);
      deps.telemetry.inject(context, headers);
      res.once("close", onClose);
      const answer = await dispatch(call, headers, res);
      if (answer) await relay(call, answer, req, res);
    } catch (err) {
      failRelay(call, res, err as Error);
    } finally {
      res.off("close", onClose);
      finish(call, span);
    }
  }

  function send(call: Call, headers: Record<string, string>, body: Buffer): Promise<UpstreamResponse> {
    const started = dispatchCall(dispatcher, {
      origin: call.route.origin,
      path: call.route.target,
      method: call.method as Dispatcher.HttpMethod,
      headers: { ...headers, "content-length": String(body.length) },
      body: call.method === "GET" || call.method === "HEAD" ? null : body,
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.bodyTimeoutMs,
    });
    call.inFlight = started.body;
    return started.response;
  }

  /**
   * Sends the call; after the provider's own overflow answer (a 400, or the first events of a
   * Responses stream) with nothing sent to the client yet, trims harder and sends once more.
   * Undefined when the provider could not be reached (answered here).
   */
  async function dispatch(
    call: Call,
    headers: Record<string, string>,
    res: ServerResponse,
  ): Promise<Answer | undefined> {
    const { provider } = call.route;
    const family = provider.family;
    for (;;) {
      let upstream: UpstreamResponse;
      try {
        upstream = await send(call, headers, call.payload);
      } catch (err) {
        // The client left before the provider answered: nobody to answer, and no failure of the provider's.
        if (call.clientGone) {
          call.errorType = "client_aborted";
          return undefined;
        }
        call.status = 502;
        call.errorType = "network";
        noteOutcome(provider, { class: "network" });
        const { status, body } = family.error(
          502,
          `clawguard: cannot reach ${provider.id} at ${call.route.origin}: ${(err as Error).message}`,
        );
        if (!res.headersSent && !res.destroyed) sendJson(res, status, body);
        return undefined;
      }
      const answer: Answer = { upstream, held: [] };
      let overflowText: string | undefined;
      if (upstream.statusCode >= 400) {
        answer.held = [await readLimited(upstream.body, MAX_ERROR_BODY)];
        overflowText = answer.held[0]?.toString("utf8");
      } else if (call.guarded && family.api === "openai-responses" && isEventStream(upstream.headers)) {
        // The Responses API reports an overflow inside a 200 stream: hold its first events back.
        answer.chunks = upstream.body;
        const preamble = await readPreamble(answer.chunks);
        answer.held = preamble.chunks;
        overflowText = preamble.error;
      }
      const overflow =
        overflowText !== undefined
          ? family.parseOverflow(upstream.statusCode === 200 ? 400 : upstream.statusCode, overflowText)
          : undefined;
      const guarded = call.guarded;
      if (!overflow || call.retried || !guarded || !config.retryOnOverflow) return answer;
      const harder = await guard.trimHarder(provider, call.payload.toString("utf8"), guarded, overflow);
      if (!harder) return answer;
      upstream.body.destroy();
      call.retried = true;
      guarded.trim = harder;
      guarded.counted = { prefix: guarded.counted?.prefix ?? 0, total: harder.tokensAfter };
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
      call.payload = Buffer.from(harder.text, "utf8");
    }
  }

  /** Relays the provider's answer: an error whole, a small answer in one write, the rest as it comes. */
  async function relay(call: Call, answer: Answer, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { provider } = call.route;
    const { upstream } = answer;
    const status = upstream.statusCode;
    call.status = status;
    if (status >= 400) {
      const errorBody = Buffer.concat(answer.held);
      const outcome = classify(
        provider.id,
        provider.family,
        status,
        upstream.headers,
        errorBody.toString("utf8"),
      );
      call.errorType = outcome.class === "client_error" ? String(status) : outcome.class;
      noteOutcome(provider, outcome, status);
      const shown = scrubKey(call.route.provider, errorBody);
      res.writeHead(status, responseHeaders(scrubHeaders(call.route.provider, upstream.headers)));
      res.end(shown);
      call.responseBytes = errorBody.length;
      return;
    }
    noteOutcome(provider, { class: "ok" }, status);
    credentials.remember(provider, req.headers);
    const declared = Number(upstream.headers["content-length"]);
    if (!isEventStream(upstream.headers) && answer.held.length === 0 && !(declared > MAX_WHOLE_BODY)) {
      // A whole answer (its length declared or not) up to MAX_WHOLE_BODY goes out in one write,
      // headers and body together: one syscall, not one per chunk and one more for the end.
      answer.chunks = upstream.body;
      const read = await readUpTo(answer.chunks, MAX_WHOLE_BODY);
      if (read.ended) {
        const whole = scrubKey(provider, Buffer.concat(read.chunks));
        call.ttftMs = performance.now() - call.started;
        call.responseBytes = whole.length;
        res.writeHead(status, responseHeaders(scrubHeaders(provider, upstream.headers), whole.length));
        res.end(whole);
        usageFromJson(call, whole);
        return;
      }
      answer.held = read.chunks; // longer than that: relayed as it comes, from here on
    }
    await relayChunks(call, answer, res);
  }

  async function relayChunks(call: Call, answer: Answer, res: ServerResponse): Promise<void> {
    const { upstream } = answer;
    const family = call.route.provider.family;
    const provider = call.route.provider;
    res.writeHead(upstream.statusCode, responseHeaders(scrubHeaders(provider, upstream.headers)));
    const reader = isEventStream(upstream.headers)
      ? new SseReader((data) => family.usageFromEvent(data, call.usage))
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
      call.route.provider.family.usageFromJson(JSON.parse(body.toString("utf8")), call.usage);
    } catch {
      // Not JSON (or not one we read): relayed as it came.
    }
  }

  function failRelay(call: Call, res: ServerResponse, err: Error): void {
    const { provider } = call.route;
    call.errorType ??= res.destroyed ? "client_aborted" : "relay_failed";
    // The provider's answer broke off (after its headers were counted as an outcome): its health says so.
    if (call.errorType === "relay_failed") health.count(provider.id, "relay_failed");
    if (!res.headersSent) {
      const { status, body } = provider.family.error(
        502,
        `clawguard: relay from ${provider.id} failed: ${err.message}`,
      );
      call.status = status;
      sendJson(res, status, body);
    } else res.destroy();
  }

  /** The call's span, metrics and `llm.request` event; a calibration sample from the provider's usage. */
  function finish(call: Call, span: Parameters<LlmTelemetry["end"]>[0]): void {
    const { provider } = call.route;
    const { guarded, usage } = call;
    const family = provider.family;
    const durationMs = performance.now() - call.started;
    const trim = guarded?.trim;
    if (usage.inputTokens !== undefined)
      health.tokens(provider.id, usage.inputTokens, usage.cacheReadTokens ?? 0);
    deps.telemetry.end(span, {
      providerId: provider.id,
      operation: operationOf(call.route.path),
      family,
      model: modelOf(call),
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
      inputMessages: config.captureContent && guarded ? capturedContent(family, call.payload) : undefined,
    });
    // Every call that names a model is one (embeddings too: a failing embeddings provider counts in
    // the collector's metrics and alerts); a listing of models is not.
    const model = modelOf(call);
    if (!guarded && model === undefined) return;
    event("llm.request", call.errorType ? "warn" : "info", {
      provider: provider.id,
      api: family.api,
      operation: operationOf(call.route.path),
      model: model ?? null,
      stream: guarded?.stream ?? false,
      status: call.status ?? null,
      error_type: call.errorType ?? null,
      duration_ms: Math.round(durationMs),
      ttft_ms: call.ttftMs === undefined ? null : Math.round(call.ttftMs),
      input_tokens: usage.inputTokens ?? null,
      output_tokens: usage.outputTokens ?? null,
      cache_read_tokens: usage.cacheReadTokens ?? null,
      finish_reasons: usage.finishReasons ?? null,
      request_bytes: call.payload.length,
      response_bytes: call.responseBytes,
      trimmed: trim?.changed ?? false,
      retried: call.retried,
      counter: guarded?.counter?.name ?? null,
      decided_by: guarded?.decidedBy ?? null,
      counted_tokens:
        guarded?.counted && guarded.correction
          ? Math.round(estimateOf(guarded.counted.total, guarded.correction).estimate)
          : null,
    });
    calibrate(call);
  }

  /**
   * Compares the provider's reported prompt size with the guard's count of the request as sent:
   * counted before the call when the guard had to, else afterwards (off the call's path) for the
   * first calls of a model and then one call in twenty.
   */
  function calibrate(call: Call): void {
    const { guarded, usage, route } = call;
    const reported = usage.inputTokens;
    if (!guarded?.counter || guarded.model === undefined || reported === undefined) return;
    if (call.status === undefined || call.status >= 300 || call.payload.length < MIN_SAMPLE_TOKENS) return;
    const { provider } = route;
    const model = guarded.model;
    const counter = { name: guarded.counter.name, bound: config.marginRatio ?? guarded.counter.margin };
    calls++;
    if (guarded.counted !== undefined) {
      deps.calibration.record(provider.id, model, counter, guarded.counted, reported);
      return;
    }
    if (guarded.countedLater) {
      void guarded.countedLater.then((counted) => {
        if (counted !== undefined) deps.calibration.record(provider.id, model, counter, counted, reported);
      });
      return;
    }
    if (!deps.calibration.wants(provider.id, model, calls)) return;
    const payload = call.payload;
    setImmediate(() => {
      try {
        const counted = guard.countAfter(provider, guarded, payload.toString("utf8"));
        if (counted !== undefined) deps.calibration.record(provider.id, model, counter, counted, reported);
      } catch (err) {
        log.warn("llm calibration sample not taken", {
          provider: provider.id,
          error: (err as Error).message,
        });
      }
    });
  }

  return {
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      try {
        await proxy(req, res);
      } catch (err) {
        // A client that leaves while its body is still coming is no failure of ours (a request read
        // to its end is destroyed too, once read: that is no abandonment).
        if ((req.destroyed || req.aborted) && !req.complete) {
          log.info("llm request abandoned by the client before it was read", {
            error: (err as Error).message,
          });
          if (!res.headersSent) res.destroy();
          return;
        }
        log.error("llm proxy failed", { error: (err as Error).stack ?? String(err) });
        if (!res.headersSent)
          sendJson(res, 500, {
            error: { code: "internal", message: "internal error (logged on the sidecar)" },
          });
        else res.destroy();
      }
    },
    health: () => health.report(),
    checkCredentials: credentials.check,
    /** Aborts the relays still in flight (each is recorded as it ends), then closes. */
    close: async () => {
      await dispatcher.destroy();
      await worker.close();
    },
  };
}

export type LlmProxy = ReturnType<typeof createLlmProxy>;

/** The model of a call: as the guard read it, else as a POST body names it (embeddings...). */
function modelOf(call: Call): string | undefined {
  return call.guarded?.model ?? (call.method === "POST" ? modelNamedIn(call.payload) : undefined);
}

/** The model a request body names in its first 64 KiB (no parse of a body that may be megabytes). */
function modelNamedIn(payload: Buffer): string | undefined {
  const head = payload.subarray(0, 64 * 1024).toString("utf8");
  const quoted = /"model"\s*:\s*"((?:[^"\\]|\\.){1,256})"/.exec(head)?.[1];
  if (quoted === undefined) return undefined;
  try {
    return JSON.parse(`"${quoted}"`) as string;
  } catch {
    return undefined;
  }
}
