import Anthropic from "@anthropic-ai/sdk";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import type { Listening } from "@clawguard/shared/http/serve";
import { startTelemetry, type Telemetry } from "@clawguard/shared/telemetry";
import { tempDir } from "@clawguard/shared/testing";
import { llmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import type { LlmGuard } from "@clawguard/sidecar/sources/llm-proxy/index";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeProvider, type RecordedRequest, startFakeProvider } from "../support/fake-provider.ts";
import { type RunningGuard, startLlmGuard } from "../support/llm-guard.ts";
import { freePort } from "../support/processes.ts";

/**
 * The context guard when the path to the provider breaks, driven by the real OpenAI and Anthropic
 * SDKs over loopback: the provider dying mid-stream or before its headers, the client leaving
 * mid-stream, a stream with broken events. The proxy runs in this process: a rejection it leaves
 * unhandled shows up here.
 */

const WINDOW = 128_000;
const source = { agent: "main", role: "agent", host: "test" };
/** How long the proxy may take to close the upstream once the client has gone. */
const CLOSE_BOUND_MS = 1000;

let tmp: ReturnType<typeof tempDir>;
let fake: FakeProvider;
/** Port of a second provider server that tests stop mid-stream and start again. */
let secondPort: number;
let second: FakeProvider | undefined;
let rig: RunningGuard;
let guard: LlmGuard;
let server: Listening;
let events: AuditEvent[] = [];
/** When the running test started (`Date.now()`): older events belong to earlier tests. */
let testStarted = 0;
/** The attributes of every `clawguard.llm.errors` increment, as an OTel exporter would get them. */
const errorsCounted: Record<string, unknown>[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

/** A meter that keeps what the proxy counts as failed calls (no OTel SDK in the test package). */
function recordingMeter(): Telemetry["meter"] {
  const meter = {
    createHistogram: () => ({ record: () => {} }),
    createCounter: (name: string) => ({
      add: (_value: number, attributes: Record<string, unknown>) => {
        if (name === "clawguard.llm.errors") errorsCounted.push(attributes);
      },
    }),
  };
  return meter as unknown as Telemetry["meter"];
}

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  tmp = tempDir("clawguard-llm-faults-");
  // Events 20 ms apart: a fault or an abort lands while the provider is still streaming.
  fake = await startFakeProvider({ contextWindow: { default: WINDOW }, chunkDelayMs: 20 });
  secondPort = await freePort();
  const models = [
    { id: "gpt-4.1", contextWindow: WINDOW },
    { id: "claude-sonnet-5-5", contextWindow: WINDOW },
  ];
  const second = `http://127.0.0.1:${secondPort}`;
  const config = llmProxyConfig.parse({
    providers: {
      openai: { upstream: `${fake.url}/v1`, api: "openai-completions", models },
      anthropic: { upstream: fake.url, api: "anthropic-messages", models },
      "openai-b": { upstream: `${second}/v1`, api: "openai-completions", models },
      "anthropic-b": { upstream: second, api: "anthropic-messages", models },
    },
    authCheckIntervalMs: 0,
  });
  const telemetry = { ...(await startTelemetry("test", {})), enabled: true, meter: recordingMeter() };
  rig = await startLlmGuard({ dir: tmp.path, config, telemetry, source });
  ({ guard, server, events } = rig);
});

afterAll(async () => {
  // The providers first: a call a failed test left stalled upstream ends, and the guard can stop.
  await fake?.close();
  await second?.close();
  await rig?.stop();
  tmp?.cleanup();
  process.off("unhandledRejection", onUnhandled);
});

beforeEach(() => {
  fake.setMode("normal");
  fake.script([]);
  fake.requests.length = 0;
  events.length = 0;
  errorsCounted.length = 0;
  testStarted = Date.now();
});

afterEach(() => {
  expect(unhandled.splice(0), "unhandled rejections").toEqual([]);
});

// --- helpers ------------------------------------------------------------------------------------------------

/** Polls `probe` every 10 ms until it returns something, for at most `boundMs`. */
async function until<T>(what: string, probe: () => T | undefined, boundMs = 2000): Promise<T> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The `llm.request` events of `provider`'s calls, once there are `n` (they are batched off the call). */
async function callsOf(provider: string, n = 1): Promise<Record<string, unknown>[]> {
  return until(`${n} llm.request event(s) for ${provider}`, () => {
    const calls = events.filter(
      (e) => e.type === "llm.request" && e.attrs.provider === provider && Date.parse(e.time) >= testStarted,
    );
    return calls.length >= n ? calls.map((e) => e.attrs) : undefined;
  });
}

const countsOf = (provider: string) =>
  guard.health().providers.find((p) => p.provider === provider)?.counts ?? {};

const sentBytes = (request: RecordedRequest | undefined) => Buffer.concat(request?.sent ?? []).length;

/** When the provider's response to `request` closed, within the bound. */
async function upstreamEnded(request: RecordedRequest | undefined) {
  if (!request) throw new Error("the provider received no request");
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error("the upstream response stayed open")), 2 * CLOSE_BOUND_MS).unref(),
  );
  return Promise.race([request.ended, timeout]);
}

interface Streamed {
  /** Stream items the SDK handed over. */
  chunks: number;
  /** What the SDK threw, if it did. */
  error?: unknown;
  /** When the client aborted (`performance.now()`). */
  abortedAt?: number;
}

interface StreamOptions {
  /** Aborts (AbortController) once this many items arrived. */
  abortAfter?: number;
  /** Aborts this long after the call started, whatever arrived. */
  abortAfterMs?: number;
  /** Stops reading for this long after the first item, then aborts: the client stalls, then leaves. */
  stallThenAbortMs?: number;
  /** Called with each item's number; awaited before the next is read. */
  onChunk?: (n: number) => Promise<void> | void;
  /** Offers a tool, so the provider answers with what `fake.script()` queued. */
  tools?: boolean;
}

/** Reads a stream as an agent does, item by item, and notes how it ended. */
async function consume(
  open: (signal: AbortSignal) => Promise<AsyncIterable<unknown>>,
  options: StreamOptions,
): Promise<Streamed> {
  const abort = new AbortController();
  const seen: Streamed = { chunks: 0 };
  const timer =
    options.abortAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          seen.abortedAt = performance.now();
          abort.abort();
        }, options.abortAfterMs);
  try {
    for await (const _ of await open(abort.signal)) {
      seen.chunks++;
      await options.onChunk?.(seen.chunks);
      if (options.stallThenAbortMs !== undefined)
        await new Promise((r) => setTimeout(r, options.stallThenAbortMs));
      if (seen.chunks === options.abortAfter || options.stallThenAbortMs !== undefined) {
        seen.abortedAt = performance.now();
        abort.abort();
      }
    }
  } catch (error) {
    seen.error = error;
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

/** What differs between the two APIs: the SDK calls, and the SDK's errors. */
interface FamilyCase {
  name: string;
  /** The provider id in front of `fake` (`<id>-b` is the same API in front of the second server). */
  provider: "openai" | "anthropic";
  /** The SDK's base URL straight to a fake provider. */
  direct(provider: FakeProvider): string;
  stream(baseURL: string, options?: StreamOptions): Promise<Streamed>;
  /** One streamed call, as the SDK's raw HTTP response, read whole. */
  rawStream(baseURL: string): Promise<Buffer>;
  /** One whole (not streamed) call: its text. */
  create(baseURL: string): Promise<string>;
  /** The SDK's error for a 502 the proxy answers, in this API's shape, with `message`. */
  expect502(error: unknown, message: RegExp): void;
  /** The finish reason of a complete answer. */
  finish: string;
  /** The SDK's error for a call its own signal aborted before the answer began. */
  userAbort: typeof OpenAI.APIUserAbortError | typeof Anthropic.APIUserAbortError;
}

/**
 * What both SDKs throw from the stream's iterator when its connection breaks off mid-body: undici's
 * own fetch error as it is, not one of their APIError classes.
 */
function expectTerminated(error: unknown): void {
  expect(error).toBeInstanceOf(TypeError);
  expect(error).toMatchObject({ message: "terminated", cause: { code: "UND_ERR_SOCKET" } });
  expect(((error as Error).cause as Error).message).toBe("other side closed");
}

/** The SDKs' base URL through the proxy to `provider`. */
const via = (provider: string) => `${server.url}/llm/${provider}`;

const QUESTION = "hi";
const TOOL_OPENAI: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "exec", parameters: { type: "object" } } },
];
const TOOL_ANTHROPIC: Anthropic.Tool[] = [{ name: "exec", input_schema: { type: "object" } }];

const openaiClient = (baseURL: string) =>
  new OpenAI({ apiKey: "test-key", baseURL, maxRetries: 0, logLevel: "off" });
const anthropicClient = (baseURL: string) =>
  new Anthropic({ apiKey: "test-key", baseURL, maxRetries: 0, logLevel: "off" });
const chatRequest = (tools?: boolean) => ({
  model: "gpt-4.1",
  messages: [{ role: "user" as const, content: QUESTION }],
  ...(tools ? { tools: TOOL_OPENAI } : {}),
});
const messagesRequest = (tools?: boolean) => ({
  model: "claude-sonnet-5-5",
  max_tokens: 100,
  messages: [{ role: "user" as const, content: QUESTION }],
  ...(tools ? { tools: TOOL_ANTHROPIC } : {}),
});

const FAMILIES: FamilyCase[] = [
  {
    name: "OpenAI Chat Completions",
    provider: "openai",
    direct: (provider) => `${provider.url}/v1`,
    stream: (baseURL, options = {}) =>
      consume(
        (signal) =>
          openaiClient(baseURL).chat.completions.create(
            { ...chatRequest(options.tools), stream: true, stream_options: { include_usage: true } },
            { signal },
          ),
        options,
      ),
    rawStream: async (baseURL) => {
      const response = await openaiClient(baseURL)
        .chat.completions.create({ ...chatRequest(), stream: true, stream_options: { include_usage: true } })
        .asResponse();
      return Buffer.from(await response.arrayBuffer());
    },
    create: async (baseURL) =>
      (await openaiClient(baseURL).chat.completions.create(chatRequest())).choices[0]?.message.content ?? "",
    expect502(error, message) {
      expect(error).toBeInstanceOf(OpenAI.InternalServerError);
      const e = error as InstanceType<typeof OpenAI.APIError>;
      expect(e.status).toBe(502);
      expect(e.error).toMatchObject({ type: "server_error", message: expect.stringMatching(message) });
    },
    finish: "stop",
    userAbort: OpenAI.APIUserAbortError,
  },
  {
    name: "Anthropic Messages",
    provider: "anthropic",
    direct: (provider) => provider.url,
    stream: (baseURL, options = {}) =>
      consume(
        (signal) =>
          anthropicClient(baseURL).messages.create(
            { ...messagesRequest(options.tools), stream: true },
            { signal },
          ),
        options,
      ),
    rawStream: async (baseURL) => {
      const response = await anthropicClient(baseURL)
        .messages.create({ ...messagesRequest(), stream: true })
        .asResponse();
      return Buffer.from(await response.arrayBuffer());
    },
    create: async (baseURL) => {
      const message = await anthropicClient(baseURL).messages.create(messagesRequest());
      return message.content[0]?.type === "text" ? message.content[0].text : "";
    },
    expect502(error, message) {
      expect(error).toBeInstanceOf(Anthropic.InternalServerError);
      const e = error as InstanceType<typeof Anthropic.APIError>;
      expect(e.status).toBe(502);
      expect(e.error).toMatchObject({
        type: "error",
        error: { type: "api_error", message: expect.stringMatching(message) },
      });
    },
    finish: "end_turn",
    userAbort: Anthropic.APIUserAbortError,
  },
];

// --- the tests ----------------------------------------------------------------------------------------------

describe.each(FAMILIES)("$name through the guard, when the path breaks", (c) => {
  const proxied = () => via(c.provider);

  /** The proxy still serves `provider`: a whole call and a streamed one come back complete. */
  async function stillServes(): Promise<void> {
    fake.setMode("normal");
    const earlier = events.filter((e) => e.type === "llm.request" && e.attrs.provider === c.provider);
    expect(await c.create(proxied())).toMatch(/^ok \d+ tokens$/);
    const streamed = await c.stream(proxied());
    expect(streamed.error).toBeUndefined();
    expect(streamed.chunks).toBeGreaterThan(3);
    // Their events are in before the next test starts counting.
    const calls = await callsOf(c.provider, earlier.length + 2);
    expect(calls.slice(-2).map((call) => call.error_type)).toEqual([null, null]);
  }

  it("the provider drops the connection mid-stream: the SDK fails, relay_failed is recorded with the bytes relayed, health and the error metric count it, and the proxy keeps serving", async () => {
    const before = countsOf(c.provider);
    fake.setMode("cut-mid-body");
    const streamed = await c.stream(proxied());
    expectTerminated(streamed.error);
    expect(streamed.chunks).toBeGreaterThan(0); // the first events did arrive
    const upstream = fake.requests.at(-1);
    expect((await upstreamEnded(upstream)).finished).toBe(false);

    const [call] = await callsOf(c.provider);
    expect(call).toMatchObject({ stream: true, status: 200, error_type: "relay_failed" });
    // Everything the provider wrote before it died went out to the client, and no more.
    expect(call?.response_bytes).toBe(sentBytes(upstream));
    expect(call?.response_bytes).toBeGreaterThan(0);
    expect(call?.finish_reasons).toBeNull();
    expect(countsOf(c.provider).relay_failed ?? 0).toBe((before.relay_failed ?? 0) + 1);
    expect(errorsCounted).toContainEqual(
      expect.objectContaining({ "error.type": "relay_failed", "gen_ai.provider.name": c.provider }),
    );
    await stillServes();
  });

  it("the provider's server stops mid-stream: the same failure; the provider is then unreachable (502) and is reached again once it is back", async () => {
    const provider = `${c.provider}-b`;
    const before = countsOf(provider);
    const stopped = await startFakeProvider({ port: secondPort, chunkDelayMs: 20 });
    second = stopped;
    stopped.setMode("stall-mid-body");
    const streamed = await c.stream(via(provider), {
      onChunk: (n) => (n === 2 ? stopped.close() : undefined),
    });
    expectTerminated(streamed.error);
    const [call] = await callsOf(provider);
    expect(call).toMatchObject({ status: 200, error_type: "relay_failed" });
    expect(call?.response_bytes).toBe(sentBytes(stopped.requests[0]));
    expect(countsOf(provider).relay_failed ?? 0).toBe((before.relay_failed ?? 0) + 1);

    // Down: the proxy answers for it, in the API's own shape.
    const down = await c.create(via(provider)).catch((e: unknown) => e);
    c.expect502(
      down,
      new RegExp(`^clawguard: cannot reach ${provider} at http://127\\.0\\.0\\.1:${secondPort}`),
    );
    expect((await callsOf(provider, 2))[1]).toMatchObject({ status: 502, error_type: "network" });
    // The other providers are unaffected.
    await stillServes();

    second = await startFakeProvider({ port: secondPort, chunkDelayMs: 20 });
    try {
      expect(await c.create(via(provider))).toMatch(/^ok \d+ tokens$/);
    } finally {
      await second.close();
      second = undefined;
    }
  });

  it("the client aborts mid-stream: the upstream closes within 1 s, client_aborted is recorded, no connection is left behind, and the next call works", async () => {
    const before = countsOf(c.provider);
    await c.create(proxied()); // a pooled keep-alive connection to the provider exists
    fake.setMode("stall-mid-body");
    let open = 0; // connections to the provider while the stream is running, its own included
    const streamed = await c.stream(proxied(), {
      abortAfter: 2,
      onChunk: () => {
        open = fake.openConnections;
      },
    });
    // Both SDKs end the loop quietly when their own signal aborts it.
    expect(streamed.error).toBeUndefined();
    expect(streamed.chunks).toBe(2);
    const upstream = fake.requests.at(-1);
    const ended = await upstreamEnded(upstream);
    expect(ended.finished).toBe(false);
    expect(ended.at - (streamed.abortedAt as number)).toBeLessThan(CLOSE_BOUND_MS);

    const [, call] = await callsOf(c.provider, 2);
    expect(call).toMatchObject({ stream: true, status: 200, error_type: "client_aborted" });
    // The two events the client read were relayed; the provider's third, sent 20 ms later while the
    // client was leaving, is relayed or not depending on which the proxy saw first.
    const sent = upstream?.sent ?? [];
    expect(call?.response_bytes).toBeGreaterThanOrEqual(Buffer.concat(sent.slice(0, 2)).length);
    expect(call?.response_bytes).toBeLessThanOrEqual(sentBytes(upstream));
    // Not the provider's failure.
    expect(countsOf(c.provider).relay_failed).toBe(before.relay_failed);
    expect(countsOf(c.provider).network).toBe(before.network);
    // The aborted call's upstream connection is gone (not parked in the pool, not left open).
    await until("the aborted call's connection closed", () =>
      fake.openConnections < open ? true : undefined,
    );
    await stillServes();
  });

  it("the client stops reading, then aborts: the relay stops waiting to write and records client_aborted", async () => {
    // An answer far larger than the socket buffers between the proxy and the client: the proxy's
    // writes back up. (The provider may well have written all of it by then: its kernel buffers
    // hold what the proxy has not read, so when its response closed tells nothing here.)
    fake.script([{ text: Array.from({ length: 16 }, () => "y".repeat(1_000_000)).join(" ") }]);
    const streamed = await c.stream(proxied(), { tools: true, stallThenAbortMs: 600 });
    expect(streamed.error).toBeUndefined();
    // The call is recorded: the proxy did not hang on a write the client would never drain.
    const [call] = await callsOf(c.provider);
    expect(call).toMatchObject({ status: 200, error_type: "client_aborted" });
    expect(call?.response_bytes).toBeLessThan(sentBytes(fake.requests.at(-1)));
    await stillServes();
  });

  it("the client aborts before the provider answers: client_aborted, not a network failure of the provider's", async () => {
    const before = countsOf(c.provider);
    fake.setMode("stall-before-headers");
    const streamed = await c.stream(proxied(), { abortAfterMs: 200 });
    expect(streamed.error).toBeInstanceOf(c.userAbort);
    const ended = await upstreamEnded(fake.requests.at(-1));
    expect(ended.at - (streamed.abortedAt as number)).toBeLessThan(CLOSE_BOUND_MS);
    const [call] = await callsOf(c.provider);
    expect(call).toMatchObject({ status: null, error_type: "client_aborted", response_bytes: 0 });
    expect(countsOf(c.provider).network).toBe(before.network);
    expect(errorsCounted.map((a) => a["error.type"])).toEqual(["client_aborted"]);
    await stillServes();
  });

  it("a line that is no SSE field and an event cut mid-JSON are relayed as they came: the SDK fails as it does without the proxy, and usage is still read", async () => {
    fake.setMode("malformed-stream");
    const direct = await c.stream(c.direct(fake));
    const viaProxy = await c.stream(proxied());
    expect(viaProxy.error).toBeDefined();
    expect(viaProxy.error?.constructor).toBe(direct.error?.constructor);
    expect(String(viaProxy.error)).toBe(String(direct.error));
    expect(viaProxy.chunks).toBe(direct.chunks);
    // The client had the broken event while the provider was still streaming: nothing was held back.
    const upstream = fake.requests.at(-1);
    expect((await upstreamEnded(upstream)).finished).toBe(false);
    expect((await callsOf(c.provider))[0]).toMatchObject({ error_type: "client_aborted" });

    // Read whole: the very bytes the provider sent, and the usage after the broken event.
    const raw = await c.rawStream(proxied());
    const sent = Buffer.concat(fake.requests.at(-1)?.sent ?? []);
    expect(raw.toString("utf8")).toContain("this line is no SSE field\n");
    expect(raw.equals(sent)).toBe(true);
    const [, call] = await callsOf(c.provider, 2);
    expect(call).toMatchObject({ status: 200, error_type: null, response_bytes: sent.length });
    expect(call?.input_tokens).toBeGreaterThan(0);
    expect(call?.finish_reasons).toEqual([c.finish]);
  });

  it("not streamed: a reset before the headers is a 502 in the API's shape naming the provider; a body cut after them is one too", async () => {
    const before = countsOf(c.provider);
    fake.setMode("reset-before-headers");
    const reset = await c.create(proxied()).catch((e: unknown) => e);
    c.expect502(
      reset,
      new RegExp(`^clawguard: cannot reach ${c.provider} at ${fake.url}: other side closed`),
    );
    expect((await callsOf(c.provider))[0]).toMatchObject({
      stream: false,
      status: 502,
      error_type: "network",
    });
    expect(countsOf(c.provider).network ?? 0).toBe((before.network ?? 0) + 1);

    fake.setMode("cut-mid-body");
    const cut = await c.create(proxied()).catch((e: unknown) => e);
    c.expect502(cut, new RegExp(`^clawguard: relay from ${c.provider} failed: other side closed`));
    expect(sentBytes(fake.requests.at(-1))).toBeGreaterThan(0); // headers and half the body went out
    expect((await callsOf(c.provider, 2))[1]).toMatchObject({
      status: 502,
      error_type: "relay_failed",
      response_bytes: 0,
    });
    expect(countsOf(c.provider).relay_failed ?? 0).toBe((before.relay_failed ?? 0) + 1);
    expect(errorsCounted.map((a) => a["error.type"])).toEqual(["network", "relay_failed"]);
    await stillServes();
  });
});
