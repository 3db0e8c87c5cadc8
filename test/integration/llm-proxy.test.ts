import { readFileSync } from "node:fs";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import type { Listening } from "@clawguard/shared/http/serve";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { tempDir } from "@clawguard/shared/testing";
import { tokenizerFor } from "@clawguard/shared/tokens";
import type { SpillStore } from "@clawguard/sidecar/sources/exec-guard/spill";
import { llmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import type { LlmGuard } from "@clawguard/sidecar/sources/llm-proxy/index";
import { objectMembers, rootSpan } from "@clawguard/sidecar/sources/llm-proxy/json-layout";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { type RunningGuard, startLlmGuard } from "../support/llm-guard.ts";

/**
 * The context guard in front of a local provider, driven by the real OpenAI and Anthropic SDKs:
 * what reaches the provider, what the SDKs see, and what the audit trail records.
 */

const WINDOW = 6000;
const RESERVE = 500;
const source = { agent: "main", role: "agent", host: "test" };

let tmp: ReturnType<typeof tempDir>;
let fake: FakeProvider;
let rig: RunningGuard;
let guard: LlmGuard;
let server: Listening;
let spill: SpillStore;
let events: AuditEvent[] = [];

beforeAll(async () => {
  tmp = tempDir("clawguard-llm-");
  // The provider counts with the model's real tokenizer (o200k), as OpenAI does.
  fake = await startFakeProvider({
    contextWindow: { default: WINDOW },
    countTokens: tokenizerFor("gpt-4.1").count,
  });
  const models = [
    { id: "gpt-4.1", contextWindow: WINDOW, maxTokens: RESERVE },
    { id: "claude-sonnet-4-5", contextWindow: WINDOW, maxTokens: RESERVE },
  ];
  const config = llmProxyConfig.parse({
    providers: {
      openai: { upstream: `${fake.url}/v1`, api: "openai-completions", models },
      "openai-responses": { upstream: `${fake.url}/v1`, api: "openai-responses", models },
      anthropic: { upstream: fake.url, api: "anthropic-messages", models },
      // Nothing listens there: a provider that is down.
      down: { upstream: "http://127.0.0.1:9/v1", api: "openai-completions", models },
    },
    authCheckIntervalMs: 0,
    maxRequestBytes: 4 * 1024 * 1024,
  });
  rig = await startLlmGuard({
    dir: tmp.path,
    config,
    telemetry: await startTelemetry("test", {}),
    source,
  });
  ({ guard, server, spill, events } = rig);
});

afterAll(async () => {
  await rig?.stop();
  await fake?.close();
  tmp?.cleanup();
});

beforeEach(() => {
  fake.setMode("normal");
  fake.requests.length = 0;
});

const openai = () => new OpenAI({ apiKey: "test-key", baseURL: `${server.url}/llm/openai`, maxRetries: 0 });
const responsesClient = () =>
  new OpenAI({ apiKey: "test-key", baseURL: `${server.url}/llm/openai-responses`, maxRetries: 0 });
const anthropic = () =>
  new Anthropic({ apiKey: "test-key", baseURL: `${server.url}/llm/anthropic`, maxRetries: 0 });

async function eventsOf(type: string): Promise<AuditEvent[]> {
  // Events are batched off the request path: wait until they are written.
  await new Promise((r) => setTimeout(r, 120));
  return events.filter((e) => e.type === type);
}

const words = (n: number, word = "word") => Array.from({ length: n }, (_, i) => `${word}${i}`).join(" ");
const SYSTEM = `You are the gateway's agent. ${words(200, "rule")}`;

/** A long agent session: turns with exec tool calls, one of them with a huge output. */
function agentSession(turns: number, hugeAt: number): OpenAI.ChatCompletionMessageParam[] {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "system", content: SYSTEM }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: `step ${t}: ${words(60)}` });
    messages.push({
      role: "assistant",
      content: null,
      tool_calls: [
        {
          id: `call_${t}`,
          type: "function",
          function: { name: "exec", arguments: `{"command":"make ${t}"}` },
        },
      ],
    });
    messages.push({
      role: "tool",
      tool_call_id: `call_${t}`,
      content: t === hugeAt ? `build log\n${words(40_000, "line")}\nERROR: failed` : `ok ${t}`,
    });
    messages.push({ role: "assistant", content: `done ${t}: ${words(60)}` });
  }
  messages.push({ role: "user", content: "what failed?" });
  return messages;
}

const TOOLS: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: { name: "exec", description: "run a shell command", parameters: { type: "object" } },
  },
];

/** The JSON of the last request the provider received. */
function lastSent<T>(): T {
  const request = fake.requests.at(-1);
  if (!request) throw new Error("the provider received no request");
  return request.json as T;
}

function field(raw: Buffer, key: string): string | undefined {
  const text = raw.toString("utf8");
  const span = objectMembers(text, rootSpan(text)).get(key);
  return span && text.slice(span.start, span.end);
}

describe("OpenAI Chat Completions through the guard", () => {
  it("passes a small request through unchanged and relays the answer, streaming and not", async () => {
    const client = openai();
    const answer = await client.chat.completions.create({
      model: "gpt-4.1",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(answer.choices[0]?.message.content).toMatch(/^ok \d+ tokens$/);
    const stream = await client.chat.completions.create({
      model: "gpt-4.1",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toMatch(/^ok \d+ tokens$/);
    const sent = JSON.stringify({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] });
    expect(fake.requests[0]?.body.toString()).toBe(sent);
    const calls = await eventsOf("llm.request");
    expect(calls.at(-1)?.attrs).toMatchObject({
      provider: "openai",
      model: "gpt-4.1",
      stream: true,
      status: 200,
    });
    expect(calls.at(-1)?.attrs.input_tokens).toBeGreaterThan(0);
    expect(calls.at(-1)?.attrs.ttft_ms).toBeGreaterThanOrEqual(0);
  });

  it("trims an over-budget session: spills the huge tool output, keeps tool pairs and the prefix, and the provider never sees too much", async () => {
    const messages = agentSession(12, 3);
    const answer = await openai().chat.completions.create({
      model: "gpt-4.1",
      messages,
      tools: TOOLS,
      stream: true,
    });
    for await (const _ of answer) {
      // drained
    }
    const received = fake.requests.at(-1);
    expect(received?.tooLong).toBe(false);
    expect(received?.promptTokens).toBeLessThanOrEqual(WINDOW - RESERVE);
    const sent = received?.json as { messages: Array<Record<string, unknown>> };
    // The stable prefix (system prompt, tool definitions) is byte-identical to what the SDK sent.
    const original = Buffer.from(JSON.stringify({ model: "gpt-4.1", messages, tools: TOOLS, stream: true }));
    expect(field(received?.body as Buffer, "tools")).toBe(field(original, "tools"));
    expect(JSON.stringify(sent.messages[0])).toBe(JSON.stringify(messages[0]));
    // Every tool result still follows the call that asked for it; the last question is there.
    sent.messages.forEach((m, i) => {
      if (m.role !== "tool") return;
      const calls = sent.messages[i - 1]?.tool_calls as Array<{ id: string }>;
      expect(calls.map((c) => c.id)).toContain(m.tool_call_id);
    });
    expect(sent.messages.at(-1)).toEqual({ role: "user", content: "what failed?" });
    const trimmed = (await eventsOf("llm.trimmed")).at(-1);
    expect(trimmed?.attrs.tokens_after).toBeLessThan(trimmed?.attrs.tokens_before as number);
    // The huge output was saved whole and the preview says how to read it.
    const spillId = ((trimmed as AuditEvent).attrs.spilled as string[])[0] as string;
    const saved = readFileSync(join(spill.dir, `${spillId}.out`), "utf8");
    expect(saved).toBe(messages.find((m) => String(m.content).startsWith("build log"))?.content);
  });

  it("a huge tool output in the current turn becomes a preview that says how to read the rest", async () => {
    const messages = agentSession(4, 3);
    await openai().chat.completions.create({ model: "gpt-4.1", messages, tools: TOOLS });
    const sent = lastSent<{ messages: Array<{ role: string; content: string }> }>().messages;
    expect(sent).toHaveLength(messages.length);
    const preview = sent.find(
      (m) => m.role === "tool" && m.content.includes("was too large for the context"),
    );
    const id = /saved as spill ([0-9A-Z]{26})/.exec(preview?.content ?? "")?.[1];
    expect(id, preview?.content).toBeDefined();
    expect(preview?.content).toContain(`clawguard read ${id} --lines A:B`);
    expect(preview?.content).toMatch(/^build log/m);
    expect(preview?.content).toContain("ERROR: failed");
  });

  it("a request of many big tool outputs (guarded on the event loop) gets previews up to one redaction allowance", async () => {
    // Issue 13: tool outputs of 'eyJ' repeated froze the sidecar when each preview's tail was
    // redacted with 64 KiB of context on its thread. 10 x 20 KB stays under the worker's 256 KiB.
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "system", content: "x" }];
    for (let i = 0; i < 10; i++) {
      messages.push(
        { role: "user", content: `s${i}` },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: `c${i}`, type: "function", function: { name: "exec", arguments: "{}" } }],
        },
        { role: "tool", tool_call_id: `c${i}`, content: `out ${i}\n${"eyJ".repeat(20_000 / 3)}` },
      );
    }
    messages.push({ role: "user", content: "go" });
    await openai().chat.completions.create({ model: "gpt-4.1", messages });
    const sent = lastSent<{ messages: Array<{ role: string; content: string }> }>().messages;
    const previews = sent.filter((m) => m.role === "tool" && m.content.includes("saved as spill"));
    const shown = previews.filter((m) => m.content.includes("first lines:"));
    expect(shown.length).toBeGreaterThanOrEqual(4);
    expect(shown.length).toBeLessThan(previews.length);
    for (const m of previews) expect(m.content).toMatch(/clawguard read [0-9A-Z]{26} --lines A:B/);
  });

  it("answers in OpenAI's own overflow shape when even the prefix is too big, and sends nothing", async () => {
    const huge = [
      { role: "system" as const, content: words(12_000, "policy") },
      { role: "user" as const, content: "hi" },
    ];
    const failure = await openai()
      .chat.completions.create({ model: "gpt-4.1", messages: huge })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OpenAI.BadRequestError);
    expect((failure as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("context_length_exceeded");
    expect((failure as Error).message).toMatch(/maximum context length is 6000 tokens/);
    expect(fake.requests).toHaveLength(0);
  });

  it("after the provider's own overflow error, trims harder and retries once", async () => {
    fake.setMode("overflow-once");
    const messages = agentSession(6, -1);
    const answer = await openai().chat.completions.create({ model: "gpt-4.1", messages, tools: TOOLS });
    expect(answer.choices[0]?.message.content).toMatch(/^ok/);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]?.body.length).toBeLessThan(fake.requests[0]?.body.length as number);
    const retry = (await eventsOf("llm.trimmed")).at(-1);
    expect(retry?.attrs.after_provider_overflow).toBe(true);
    const call = (await eventsOf("llm.request")).at(-1);
    expect(call?.attrs.retried).toBe(true);
  });
});

describe("Anthropic Messages through the guard", () => {
  it("streams through, and a huge tool result is spilled while the cached prefix stays byte-identical", async () => {
    const messages: Anthropic.MessageParam[] = [
      {
        role: "user",
        content: [{ type: "text", text: `context ${words(100)}`, cache_control: { type: "ephemeral" } }],
      },
      { role: "assistant", content: "ready" },
    ];
    for (let t = 0; t < 6; t++) {
      messages.push({ role: "user", content: `step ${t} ${words(50)}` });
      messages.push({
        role: "assistant",
        content: [{ type: "tool_use", id: `tu_${t}`, name: "exec", input: { command: "ls" } }],
      });
      messages.push({
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: `tu_${t}`,
            content: t === 2 ? words(30_000, "row") : `ok ${t}`,
          },
        ],
      });
      messages.push({ role: "assistant", content: `done ${t}` });
    }
    messages.push({ role: "user", content: "summarize" });
    const system: Anthropic.TextBlockParam[] = [
      { type: "text", text: SYSTEM, cache_control: { type: "ephemeral" } },
    ];
    const stream = anthropic().messages.stream({
      model: "claude-sonnet-4-5",
      max_tokens: RESERVE,
      system,
      messages,
    });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text" });
    const received = fake.requests.at(-1);
    expect(received?.tooLong).toBe(false);
    const original = Buffer.from(
      JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: RESERVE, system, messages, stream: true }),
    );
    expect(field(received?.body as Buffer, "system")).toBe(field(original, "system"));
    const sent = ((received as { json: unknown }).json as { messages: Anthropic.MessageParam[] }).messages;
    expect(JSON.stringify(sent.slice(0, 1))).toBe(JSON.stringify(messages.slice(0, 1)));
    expect(sent.at(-1)).toEqual({ role: "user", content: "summarize" });
  });

  it("answers 'prompt is too long' in Anthropic's shape when it cannot fit", async () => {
    const failure = await anthropic()
      .messages.create({
        model: "claude-sonnet-4-5",
        max_tokens: RESERVE,
        system: words(12_000, "policy"),
        messages: [{ role: "user", content: "hi" }],
      })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Anthropic.BadRequestError);
    expect((failure as Error).message, String(failure)).toMatch(
      /prompt is too long: \d+ tokens > 6000 maximum/,
    );
    expect(fake.requests).toHaveLength(0);
  });
});

describe("OpenAI Responses through the guard", () => {
  it("trims function call chains whole", async () => {
    const input: OpenAI.Responses.ResponseInputItem[] = [{ role: "developer", content: SYSTEM }];
    for (let t = 0; t < 10; t++) {
      input.push({ role: "user", content: `task ${t} ${words(150)}` });
      input.push({ type: "function_call", call_id: `fc_${t}`, name: "exec", arguments: "{}" });
      input.push({ type: "function_call_output", call_id: `fc_${t}`, output: `out ${t} ${words(150)}` });
    }
    const response = await responsesClient().responses.create({ model: "gpt-4.1", input });
    expect(response.output_text).toMatch(/^ok/);
    const received = fake.requests.at(-1);
    expect(received?.tooLong).toBe(false);
    const sent = lastSent<{ input: Array<Record<string, unknown>> }>().input;
    expect(sent.length).toBeLessThan(input.length);
    sent.forEach((item, i) => {
      if (item.type === "function_call_output") expect(sent[i - 1]).toMatchObject({ call_id: item.call_id });
    });
  });
});

describe("OpenAI Responses streaming overflow", () => {
  it("holds the stream's first events back, and retries trimmed when they carry the overflow error", async () => {
    fake.setMode("overflow-once");
    const input: OpenAI.Responses.ResponseInputItem[] = [{ role: "developer", content: SYSTEM }];
    for (let t = 0; t < 6; t++) {
      input.push({ role: "user", content: `task ${t} ${words(60)}` });
      input.push({ role: "assistant", content: `answer ${t} ${words(60)}` });
    }
    const stream = await responsesClient().responses.create({ model: "gpt-4.1", input, stream: true });
    let text = "";
    for await (const event of stream) if (event.type === "response.output_text.delta") text += event.delta;
    expect(text).toMatch(/^ok/);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]?.body.length).toBeLessThan(fake.requests[0]?.body.length as number);
  });
});

describe("auth failures and health", () => {
  it("a provider's 401 degrades it with a reason; an intermediary's 403 is told apart; success recovers", async () => {
    fake.setMode("unauthorized");
    const failure = await openai()
      .chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OpenAI.AuthenticationError);
    let openaiHealth = guard.health().providers.find((p) => p.provider === "openai");
    expect(openaiHealth?.state).toBe("degraded");
    expect(openaiHealth?.reasons[0]).toMatch(/provider refused the credential \(HTTP 401/);
    expect((await eventsOf("llm.auth_failed")).at(-1)?.attrs).toMatchObject({
      provider: "openai",
      class: "auth",
    });

    fake.setMode("proxy-forbidden");
    const blocked = await anthropic()
      .messages.create({
        model: "claude-sonnet-4-5",
        max_tokens: 10,
        messages: [{ role: "user", content: "hi" }],
      })
      .catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(Anthropic.PermissionDeniedError);
    const anthropicHealth = guard.health().providers.find((p) => p.provider === "anthropic");
    expect(anthropicHealth?.reasons[0]).toMatch(/intermediary \(squid/);

    fake.setMode("normal");
    await openai().chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] });
    openaiHealth = guard.health().providers.find((p) => p.provider === "openai");
    expect(openaiHealth?.state).toBe("ok");
    expect((await eventsOf("llm.auth_recovered")).some((e) => e.attrs.provider === "openai")).toBe(true);
  });

  it("checks credentials with the provider's model list, using the credential the agent last sent", async () => {
    await openai().chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] });
    fake.setMode("unauthorized");
    await guard.checkCredentials();
    const check = fake.requests.find((r) => r.path === "/v1/models");
    expect(check?.headers.authorization).toBe("Bearer test-key");
    let health = guard.health().providers.find((p) => p.provider === "openai");
    expect(health?.state).toBe("degraded");
    expect(health?.lastCheck).toMatchObject({ class: "auth", status: 401 });
    const failed = (await eventsOf("llm.auth_failed")).filter((e) => e.attrs.provider === "openai").at(-1);
    expect(failed?.attrs).toMatchObject({ class: "auth", check: true });
    fake.setMode("normal");
    await guard.checkCredentials();
    health = guard.health().providers.find((p) => p.provider === "openai");
    expect(health?.state).toBe("ok");
  });

  it("answers 502 in the provider's shape when the provider cannot be reached, and keeps serving", async () => {
    const down = new OpenAI({ apiKey: "test-key", baseURL: `${server.url}/llm/down`, maxRetries: 0 });
    const failure = await down.chat.completions
      .create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OpenAI.InternalServerError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failure as Error).message).toMatch(/cannot reach down at http:\/\/127\.0\.0\.1:9/);
    expect(guard.health().providers.find((p) => p.provider === "down")?.counts.network).toBe(1);
    const call = (await eventsOf("llm.request")).at(-1);
    expect(call?.attrs).toMatchObject({ provider: "down", status: 502, error_type: "network" });
    // The other providers are unaffected.
    await openai().chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] });
  });

  it("an embeddings call is an llm.request too (its model, operation and status), a model listing is not", async () => {
    fake.setMode("normal");
    const before = events.length;
    await openai()
      .embeddings.create({ model: "text-embedding-3-small", input: ["one", "two"] })
      .catch(() => undefined); // the stand-in may not serve embeddings: the call is recorded all the same
    await openai()
      .models.list()
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    // (A chat call of the test before may land meanwhile: its event is published off the call's path.)
    const recorded = events
      .slice(before)
      .filter((e) => e.type === "llm.request" && e.attrs.operation !== "chat");
    expect(recorded.map((e) => [e.attrs.operation, e.attrs.model])).toEqual([
      ["embeddings", "text-embedding-3-small"],
    ]);
    expect(recorded[0]?.attrs.status).toEqual(expect.any(Number));
  });

  it("counts 429 and 5xx by class and passes them through", async () => {
    fake.setMode("rate-limited");
    await expect(
      openai().chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    fake.setMode("server-error");
    await expect(
      openai().chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const counts = guard.health().providers.find((p) => p.provider === "openai")?.counts;
    expect(counts?.rate_limited).toBeGreaterThanOrEqual(1);
    expect(counts?.server_error).toBeGreaterThanOrEqual(1);
  });
});

describe("bad input", () => {
  const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer test-key", ...headers },
      body,
    });

  it("refuses malformed JSON in the provider's shape without forwarding it", async () => {
    const res = await post("/llm/openai/chat/completions", '{"model": "gpt-4.1", "messages": [');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; type: string } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toMatch(/not valid JSON/);
    const anthropicRes = await post("/llm/anthropic/v1/messages", "nope");
    expect(((await anthropicRes.json()) as { type: string }).type).toBe("error");
    expect(fake.requests).toHaveLength(0);
  });

  it("refuses a body nested 100 000 deep with a 400 naming the limit, and stays up", async () => {
    const deep = `{"model":"gpt-4.1","messages":[{"role":"user","content":${"[".repeat(100_000)}${"]".repeat(100_000)}}]}`;
    const res = await post("/llm/openai/chat/completions", deep);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /nests deeper than 256/,
    );
    expect(fake.requests).toHaveLength(0);
    const ok = await openai().chat.completions.create({
      model: "gpt-4.1",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(ok.choices[0]?.message.content).toMatch(/^ok/);
  });

  it("answers a client that sends Expect: 100-continue (curl does on big bodies)", async () => {
    const { request } = await import("node:http");
    const { hostname, port } = new URL(server.url);
    const body = JSON.stringify({
      model: "gpt-4.1",
      messages: [{ role: "user", content: "x".repeat(2000) }],
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: hostname,
        port,
        method: "POST",
        path: "/llm/openai/chat/completions",
        headers: {
          "content-type": "application/json",
          authorization: "Bearer test-key",
          expect: "100-continue",
        },
      });
      req.on("continue", () => req.end(body));
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
    });
    expect(status).toBe(200);
    expect(fake.requests.at(-1)?.headers.expect).toBeUndefined();
  });

  it("names the providers for an unknown one, refuses bodies over the limit, and passes other paths through", async () => {
    const unknown = await post("/llm/nope/chat/completions", "{}");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(
      /providers: openai, /,
    );
    const big = await post("/llm/openai/chat/completions", Buffer.alloc(5 * 1024 * 1024, 0x20));
    expect(big.status).toBe(413);
    const models = await fetch(`${server.url}/llm/openai/models`, {
      headers: { authorization: "Bearer test-key" },
    });
    expect(models.status).toBe(200);
    expect(fake.requests.at(-1)?.path).toBe("/v1/models");
    // A body that is JSON but not a conversation passes through for the provider to judge.
    await post("/llm/openai/chat/completions", JSON.stringify({ model: "gpt-4.1", messages: "hi" }));
    expect(fake.requests.at(-1)?.body.toString()).toBe(JSON.stringify({ model: "gpt-4.1", messages: "hi" }));
  });

  it("continues the caller's trace: traceparent reaches the provider", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await post(
      "/llm/openai/chat/completions",
      JSON.stringify({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] }),
      {
        traceparent,
      },
    );
    expect(fake.requests.at(-1)?.headers.traceparent).toBe(traceparent);
  });
});
