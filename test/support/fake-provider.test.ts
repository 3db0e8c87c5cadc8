import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  contentTokens,
  type FakeProvider,
  type RecordedRequest,
  startFakeProvider,
  toolResultsOf,
} from "./fake-provider.ts";

/**
 * The fake is only worth anything if the real SDKs cannot tell it from the providers: every case here drives
 * it with the official `openai` and `@anthropic-ai/sdk` clients and checks what they make of the answers.
 */

type OpenAIError = InstanceType<typeof OpenAI.APIError>;
type AnthropicError = InstanceType<typeof Anthropic.APIError>;

const WINDOW = 1_000;
const tokens = (text: string) => Math.ceil(Buffer.byteLength(text) / 4);
const big = "x".repeat(WINDOW * 4 + 40); // over the window on its own
const messages = [{ role: "user" as const, content: "hello there" }];
const promptOf = (value: unknown) => contentTokens(value, tokens);

let fake: FakeProvider;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  fake = await startFakeProvider({ contextWindow: { default: WINDOW }, chunkDelayMs: 1 });
  // No retries: a test must see the very first answer, and a 429/5xx must not be retried behind its back.
  openai = new OpenAI({ apiKey: "test-key", baseURL: `${fake.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "test-key", baseURL: fake.url, maxRetries: 0 });
});
afterAll(() => fake?.close());
beforeEach(() => {
  fake.setMode("normal");
  fake.script([]);
  fake.requests.length = 0;
});

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (err: unknown) => err,
  );
}

function lastRequest(): RecordedRequest {
  const request = fake.requests.at(-1);
  if (!request) throw new Error("no request recorded");
  return request;
}

describe("OpenAI Chat Completions", () => {
  const model = "gpt-4o";

  it("answers with text and usage, and records the body byte for byte", async () => {
    const completion = await openai.chat.completions.create({ model, messages });
    const prompt = promptOf(messages);
    expect(completion.choices[0]?.message.content).toBe(`ok ${prompt} tokens`);
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage).toMatchObject({
      prompt_tokens: prompt,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    const request = lastRequest();
    expect(request.promptTokens).toBe(prompt);
    expect(request.tooLong).toBe(false);
    expect(request.headers.authorization).toBe("Bearer test-key");
    expect(request.body.equals(Buffer.from(JSON.stringify(request.json)))).toBe(true);
  });

  it("streams deltas and, with include_usage, a last chunk carrying the usage", async () => {
    const stream = await openai.chat.completions.create({
      model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    const prompt = promptOf(messages);
    expect(text).toBe(`ok ${prompt} tokens`);
    expect(usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: tokens(text),
      total_tokens: prompt + tokens(text),
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  it("rejects an oversized prompt with context_length_exceeded, streaming or not", async () => {
    const oversized = [{ role: "user" as const, content: big }];
    for (const stream of [false, true]) {
      const err = await rejection(openai.chat.completions.create({ model, messages: oversized, stream }));
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      const e = err as OpenAIError;
      expect(e.status).toBe(400);
      expect(e.code).toBe("context_length_exceeded");
      expect(e.param).toBe("messages");
      expect(e.message).toBe(
        `400 This model's maximum context length is ${WINDOW} tokens. However, your messages resulted in ${promptOf(oversized)} tokens. Please reduce the length of the messages.`,
      );
      expect(e.requestID).toMatch(/^req_/);
      expect(lastRequest().tooLong).toBe(true);
    }
  });

  it("counts max_tokens against the window", async () => {
    const prompt = promptOf(messages);
    const err = await rejection(openai.chat.completions.create({ model, messages, max_tokens: WINDOW }));
    expect((err as OpenAIError).message).toContain(
      `However, you requested ${prompt + WINDOW} tokens (${prompt} in the messages, ${WINDOW} in the completion).`,
    );
    await openai.chat.completions.create({ model, messages, max_completion_tokens: WINDOW - prompt });
  });
});

describe("OpenAI Responses", () => {
  const model = "gpt-5";

  it("answers with output_text and usage", async () => {
    const response = await openai.responses.create({ model, input: "hello", instructions: "be brief" });
    const prompt = promptOf("be brief") + promptOf("hello");
    expect(response.output_text).toBe(`ok ${prompt} tokens`);
    expect(response.status).toBe("completed");
    expect(response.usage).toMatchObject({
      input_tokens: prompt,
      input_tokens_details: { cached_tokens: 0 },
    });
  });

  it("streams named events ending in response.completed with the usage", async () => {
    const stream = await openai.responses.create({ model, input: "hello", stream: true });
    const types: string[] = [];
    let text = "";
    let usage: OpenAI.Responses.ResponseUsage | null | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") usage = event.response.usage;
    }
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(text).toBe(`ok ${promptOf("hello")} tokens`);
    expect(usage).toMatchObject({ input_tokens: promptOf("hello"), output_tokens: tokens(text) });
  });

  it("rejects an oversized input: a 400 without stream, an in-stream error event with stream", async () => {
    const err = await rejection(openai.responses.create({ model, input: big }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as OpenAIError).code).toBe("context_length_exceeded");
    expect((err as OpenAIError).param).toBe("input");

    // As the real API does, the stream starts (200) and then fails: openai-node throws a status-less APIError.
    const stream = await openai.responses.create({ model, input: big, stream: true });
    const seen: string[] = [];
    const streamErr = await rejection(
      (async () => {
        for await (const event of stream) seen.push(event.type);
      })(),
    );
    expect(seen).toEqual(["response.created", "response.in_progress"]);
    expect(streamErr).toBeInstanceOf(OpenAI.APIError);
    expect(streamErr).not.toBeInstanceOf(OpenAI.BadRequestError);
    expect((streamErr as OpenAIError).code).toBe("context_length_exceeded");
    expect(lastRequest().tooLong).toBe(true);
  });
});

describe("Anthropic Messages", () => {
  const model = "claude-sonnet-4-5";
  const params = { model, max_tokens: 100, messages, system: "be brief" };
  const prompt = promptOf("be brief") + promptOf(messages);

  it("answers with text and usage", async () => {
    const message = await anthropic.messages.create(params);
    expect(message.content).toEqual([{ type: "text", text: `ok ${prompt} tokens` }]);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.usage).toMatchObject({
      input_tokens: prompt,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
    });
    const request = lastRequest();
    // @anthropic-ai/sdk 1.x sends the key as a Bearer token (0.x sent x-api-key); the fake takes both.
    expect(request.headers.authorization ?? request.headers["x-api-key"]).toMatch(/test-key$/);
    expect(request.headers["anthropic-version"]).toBeDefined();
  });

  it("streams the event sequence with messages.create({ stream: true })", async () => {
    const stream = await anthropic.messages.create({ ...params, stream: true });
    const types: string[] = [];
    let text = "";
    let outputTokens = 0;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
      if (event.type === "message_delta") outputTokens = event.usage.output_tokens;
    }
    expect(text).toBe(`ok ${prompt} tokens`);
    expect(outputTokens).toBe(tokens(text));
    expect(types[0]).toBe("message_start");
    expect(types.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
  });

  it("accumulates a whole message with messages.stream()", async () => {
    const stream = anthropic.messages.stream(params);
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const message = await stream.finalMessage();
    expect(deltas.join("")).toBe(`ok ${prompt} tokens`);
    expect(message.usage).toMatchObject({ input_tokens: prompt, output_tokens: tokens(deltas.join("")) });
  });

  it("rejects an oversized prompt with invalid_request_error 'prompt is too long', streaming or not", async () => {
    const oversized = [{ role: "user" as const, content: big }];
    for (const stream of [false, true]) {
      const err = await rejection(
        anthropic.messages.create({ model, max_tokens: 100, messages: oversized, stream }),
      );
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      const e = err as AnthropicError;
      expect(e.status).toBe(400);
      expect(e.type).toBe("invalid_request_error");
      expect(e.apiMessage).toBe(`prompt is too long: ${promptOf(oversized)} tokens > ${WINDOW} maximum`);
      expect(e.requestID).toMatch(/^req_/);
    }
  });

  it("rejects a prompt that fits only without max_tokens with the 'input length and max_tokens' message", async () => {
    const err = await rejection(anthropic.messages.create({ ...params, max_tokens: WINDOW }));
    expect((err as AnthropicError).apiMessage).toBe(
      `input length and \`max_tokens\` exceed context limit: ${prompt} + ${WINDOW} > ${WINDOW}, decrease input length or \`max_tokens\` and try again`,
    );
  });
});

describe("failure modes", () => {
  const chat = () => openai.chat.completions.create({ model: "gpt-4o", messages });
  const claude = () => anthropic.messages.create({ model: "claude", max_tokens: 10, messages });

  it("401: a wrong key, or mode unauthorized, gives AuthenticationError in both SDKs", async () => {
    const wrongOpenai = new OpenAI({
      apiKey: "sk-proj-0123456789abcdef",
      baseURL: `${fake.url}/v1`,
      maxRetries: 0,
    });
    const err = await rejection(wrongOpenai.chat.completions.create({ model: "gpt-4o", messages }));
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as OpenAIError).code).toBe("invalid_api_key");
    expect((err as OpenAIError).message).toContain(
      `Incorrect API key provided: sk-proj-${"*".repeat(12)}cdef.`,
    );
    const wrongAnthropic = new Anthropic({ apiKey: "nope", baseURL: fake.url, maxRetries: 0 });
    const aerr = await rejection(
      wrongAnthropic.messages.create({ model: "claude", max_tokens: 10, messages }),
    );
    expect(aerr).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((aerr as AnthropicError).type).toBe("authentication_error");

    fake.setMode("unauthorized");
    expect(await rejection(chat())).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(await rejection(claude())).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(await rejection(openai.models.list())).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(await rejection(anthropic.models.list())).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it("429 gives RateLimitError with retry-after", async () => {
    fake.setMode("rate-limited");
    const err = (await rejection(chat())) as OpenAIError;
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe("rate_limit_exceeded");
    expect(err.headers?.get("retry-after")).toBe("1");
    const aerr = (await rejection(claude())) as AnthropicError;
    expect(aerr).toBeInstanceOf(Anthropic.RateLimitError);
    expect(aerr.type).toBe("rate_limit_error");
    expect(aerr.headers?.get("retry-after")).toBe("1");
  });

  it("500 and overload give the SDKs' server error classes", async () => {
    fake.setMode("server-error");
    expect(await rejection(chat())).toBeInstanceOf(OpenAI.InternalServerError);
    expect(((await rejection(claude())) as AnthropicError).type).toBe("api_error");
    fake.setMode("overloaded");
    const aerr = (await rejection(claude())) as AnthropicError;
    expect(aerr).toBeInstanceOf(Anthropic.OverloadedError);
    expect(aerr.status).toBe(529);
    expect(aerr.type).toBe("overloaded_error");
    expect(((await rejection(chat())) as OpenAIError).status).toBe(503);
  });

  it("a provider 403 (JSON) and a proxy 403 (HTML) are told apart", async () => {
    fake.setMode("forbidden");
    const provider = (await rejection(chat())) as OpenAIError;
    expect(provider).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(provider.code).toBe("unsupported_country_region_territory");
    const aProvider = (await rejection(claude())) as AnthropicError;
    expect(aProvider).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(aProvider.type).toBe("permission_error");

    fake.setMode("proxy-forbidden");
    const proxy = (await rejection(chat())) as OpenAIError;
    expect(proxy).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(proxy.error).toBeUndefined(); // no JSON error object: the SDK only has the page as text
    expect(proxy.message).toContain("Access Denied");
    expect(proxy.headers?.get("server")).toMatch(/^squid/);
    expect(proxy.headers?.get("x-request-id")).toBeNull();
    const aProxy = (await rejection(claude())) as AnthropicError;
    expect(aProxy.status).toBe(403);
    expect(aProxy.type).toBeNull();
    expect(aProxy.headers?.get("via")).toContain("squid");
  });

  it("malformed: a 200 that is not JSON makes the SDKs fail", async () => {
    fake.setMode("malformed");
    await expect(chat()).rejects.toThrow();
    await expect(claude()).rejects.toThrow();
  });

  it("overflow-once: the first request overflows whatever its size, the retry goes through", async () => {
    fake.setMode("overflow-once");
    const err = (await rejection(chat())) as OpenAIError;
    expect(err.code).toBe("context_length_exceeded");
    await chat();
    fake.setMode("overflow-once");
    const aerr = (await rejection(claude())) as AnthropicError;
    expect(aerr.apiMessage).toMatch(/^prompt is too long: \d+ tokens > 1000 maximum$/);
    await claude();
    expect(fake.requests.map((r) => r.tooLong)).toEqual([true, false, true, false]);
  });
});

describe("protocol details", () => {
  it("GET /v1/models answers each SDK's auth check", async () => {
    const withModels = await startFakeProvider({ contextWindow: { default: 10, "gpt-4o": 128_000 } });
    try {
      const oai = new OpenAI({ apiKey: "test-key", baseURL: `${withModels.url}/v1`, maxRetries: 0 });
      const ant = new Anthropic({ apiKey: "test-key", baseURL: withModels.url, maxRetries: 0 });
      expect((await oai.models.list()).data.map((m) => m.id)).toEqual(["gpt-4o"]);
      expect((await ant.models.list()).data.map((m) => m.id)).toEqual(["gpt-4o"]);
    } finally {
      await withModels.close();
    }
  });

  it("answers invalid JSON and a missing anthropic-version with the provider's own 400", async () => {
    const post = (path: string, headers: Record<string, string>, body: string) =>
      fetch(`${fake.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
    const oaiBad = await post("/v1/chat/completions", { authorization: "Bearer test-key" }, "{not json");
    expect(oaiBad.status).toBe(400);
    expect(await oaiBad.json()).toMatchObject({ error: { type: "invalid_request_error", code: null } });
    const antHeaders = { "x-api-key": "test-key", "anthropic-version": "2023-06-01" };
    const antBad = await post("/v1/messages", antHeaders, "{not json");
    expect(antBad.status).toBe(400);
    expect(await antBad.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    const noVersion = await post("/v1/messages", { "x-api-key": "test-key" }, "{}");
    expect(noVersion.status).toBe(400);
    expect(await noVersion.json()).toMatchObject({
      error: { message: "anthropic-version: header is required" },
    });
    expect(fake.requests.map((r) => r.body.toString())).toEqual(["{not json", "{not json", "{}"]);
  });

  it("close() ends open connections instead of waiting for them", async () => {
    const slow = await startFakeProvider({ latencyMs: 60_000 });
    const pending = fetch(`${slow.url}/v1/models`, { headers: { authorization: "Bearer test-key" } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await slow.close();
    await expect(pending).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
    await slow.close(); // idempotent
  });
});

describe("scripted replies", () => {
  const exec = { name: "exec", arguments: { command: "seq 1 1000000" } };
  const seen = (request: RecordedRequest) =>
    `tool result chars seen: ${toolResultsOf(request).at(-1)?.length}`;
  const output = "1\n2\n3\n";
  const chatTools: OpenAI.ChatCompletionTool[] = [
    { type: "function", function: { name: "exec", parameters: { type: "object" } } },
  ];
  const antTools: Anthropic.Tool[] = [{ name: "exec", input_schema: { type: "object" } }];

  it("OpenAI Chat: a tool call, whole and streamed, then a text that reports the tool result", async () => {
    fake.script([{ toolCall: exec }, { toolCall: exec }, { text: seen }]);
    const whole = await openai.chat.completions.create({ model: "gpt-4o", messages, tools: chatTools });
    const choice = whole.choices[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe("function");
    if (call?.type !== "function") throw new Error("expected a function call");
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe("exec");
    expect(JSON.parse(call.function.arguments)).toEqual(exec.arguments);

    // The SDK's own stream helper puts the deltas back together.
    const stream = openai.chat.completions.stream({
      model: "gpt-4o",
      messages,
      tools: chatTools,
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0];
    expect(streamed?.finish_reason).toBe("tool_calls");
    const streamedCall = streamed?.message.tool_calls?.[0];
    if (streamedCall?.type !== "function") throw new Error("expected a function call");
    expect(streamedCall.function).toMatchObject({ name: "exec", arguments: JSON.stringify(exec.arguments) });
    expect(final.usage?.completion_tokens).toBeGreaterThan(0);

    const answer = await openai.chat.completions.create({
      model: "gpt-4o",
      tools: chatTools,
      messages: [
        ...messages,
        { role: "assistant", content: null, tool_calls: [streamedCall] },
        { role: "tool", tool_call_id: streamedCall.id, content: output },
      ],
    });
    expect(answer.choices[0]?.message.content).toBe(`tool result chars seen: ${output.length}`);
    expect(answer.choices[0]?.finish_reason).toBe("stop");
    expect(fake.scriptLeft).toBe(0);
    expect(fake.requests.map((r) => r.scripted !== undefined)).toEqual([true, true, true]);
  });

  it("Anthropic Messages: a tool_use block, whole and streamed, then a text that reports the tool result", async () => {
    fake.script([{ toolCall: exec }, { toolCall: exec }, { text: seen }]);
    const params = { model: "claude-fake", max_tokens: 100, messages, tools: antTools };
    const whole = await anthropic.messages.create(params);
    expect(whole.stop_reason).toBe("tool_use");
    expect(whole.content).toEqual([
      { type: "tool_use", id: expect.stringMatching(/^toolu_/), name: "exec", input: exec.arguments },
    ]);

    const stream = anthropic.messages.stream(params);
    const deltas: string[] = [];
    stream.on("inputJson", (partial) => deltas.push(partial));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    const block = final.content[0];
    if (block?.type !== "tool_use") throw new Error("expected a tool_use block");
    expect(block.input).toEqual(exec.arguments); // parsed from the input_json_delta events
    expect(deltas.join("")).toBe(JSON.stringify(exec.arguments));

    const answer = await anthropic.messages.create({
      ...params,
      messages: [
        ...messages,
        { role: "assistant", content: [block] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: block.id, content: output }] },
      ],
    });
    expect(answer.content).toEqual([{ type: "text", text: `tool result chars seen: ${output.length}` }]);
    expect(answer.stop_reason).toBe("end_turn");
  });

  it("OpenAI Responses: a function_call item, whole and streamed", async () => {
    fake.script([{ toolCall: exec }, { toolCall: exec }, { text: seen }]);
    const tools: OpenAI.Responses.FunctionTool[] = [
      { type: "function", name: "exec", parameters: { type: "object" }, strict: false },
    ];
    const whole = await openai.responses.create({ model: "gpt-5", input: "hello", tools });
    expect(whole.output).toEqual([
      expect.objectContaining({
        type: "function_call",
        name: "exec",
        arguments: JSON.stringify(exec.arguments),
      }),
    ]);
    const stream = openai.responses.stream({ model: "gpt-5", input: "hello", tools });
    const final = await stream.finalResponse();
    const item = final.output[0];
    if (item?.type !== "function_call") throw new Error("expected a function_call item");
    expect(JSON.parse(item.arguments)).toEqual(exec.arguments);

    const answer = await openai.responses.create({
      model: "gpt-5",
      tools,
      input: [
        { role: "user", content: "hello" },
        { type: "function_call", call_id: item.call_id, name: item.name, arguments: item.arguments },
        { type: "function_call_output", call_id: item.call_id, output },
      ],
    });
    expect(answer.output_text).toBe(`tool result chars seen: ${output.length}`);
  });

  it("requests without tools and requests answered with an error do not take from the script", async () => {
    fake.script([{ toolCall: exec }, { text: "done" }]);
    const summary = await openai.chat.completions.create({ model: "gpt-4o", messages });
    expect(summary.choices[0]?.message.content).toBe(`ok ${promptOf(messages)} tokens`);
    const oversized = [{ role: "user" as const, content: big }];
    await rejection(
      openai.chat.completions.create({ model: "gpt-4o", messages: oversized, tools: chatTools }),
    );
    fake.setMode("server-error");
    await rejection(openai.chat.completions.create({ model: "gpt-4o", messages, tools: chatTools }));
    fake.setMode("normal");
    expect(fake.scriptLeft).toBe(2);

    const call = await openai.chat.completions.create({ model: "gpt-4o", messages, tools: chatTools });
    expect(call.choices[0]?.finish_reason).toBe("tool_calls");
    const done = await openai.chat.completions.create({ model: "gpt-4o", messages, tools: chatTools });
    expect(done.choices[0]?.message.content).toBe("done");
    // The script is used up: back to the plain answer.
    const after = await openai.chat.completions.create({ model: "gpt-4o", messages, tools: chatTools });
    expect(after.choices[0]?.message.content).toMatch(/^ok \d+ tokens$/);
    expect(fake.requests.map((r) => r.scripted)).toEqual([
      undefined,
      undefined,
      undefined,
      { toolCall: exec },
      { text: "done" },
      undefined,
    ]);
  });
});
