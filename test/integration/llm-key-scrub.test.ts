import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { tempDir } from "@clawguard/shared/testing";
import { llmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGuard, startLlmGuard } from "../support/llm-guard.ts";

/**
 * The key the proxy injects never comes back to the agent in a streamed answer, even when the
 * provider's stream cuts it in two (two TCP writes, apart in time). A real upstream over HTTP and
 * the real OpenAI SDK streaming through the proxy.
 */

const KEY = "sk-proj-THE-INJECTED-KEY-0123456789abcdef";
const SHOWN = "[REDACTED:provider-key]";
let tmp: ReturnType<typeof tempDir>;
let upstream: Server;
let rig: RunningGuard;
/** Resolved by the test once the client has the first event: the upstream waits for it. */
let firstSeen: PromiseWithResolvers<void>;

/** A chat.completion.chunk event whose delta says `content`. */
const event = (content: string) =>
  `data: ${JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "gpt-4.1",
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  })}\n\n`;

/** Writes `text` cut at each of `cuts` (positions in the string), 30 ms apart: separate chunks. */
async function writeCut(res: ServerResponse, text: string, cuts: number[]): Promise<void> {
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    res.write(text.slice(from, cut));
    from = cut;
    await sleep(30);
  }
}

beforeAll(async () => {
  tmp = tempDir("clawguard-key-scrub-");
  // A provider that echoes the credential it got inside its stream, cut in the middle of the key.
  upstream = createServer((req, res) => {
    req.resume();
    req.once("end", async () => {
      const key = String(req.headers.authorization).replace(/^Bearer /, "");
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(event("first "));
      // The first event must reach the client before anything more is sent: no added latency.
      await firstSeen.promise;
      const echoed = event(`your key is ${key}, twice: ${key}`);
      const at = echoed.indexOf(key);
      const second = echoed.indexOf(key, at + 1);
      await writeCut(res, echoed, [at + 5, at + 17, second + key.length - 1]);
      res.end("data: [DONE]\n\n");
    });
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  const { port } = upstream.address() as AddressInfo;
  const keyFile = join(tmp.path, "key");
  writeFileSync(keyFile, `${KEY}\n`);
  const config = llmProxyConfig.parse({
    providers: {
      p: { upstream: `http://127.0.0.1:${port}/v1`, api: "openai-completions", apiKey: { file: keyFile } },
    },
    authCheckIntervalMs: 0,
  });
  rig = await startLlmGuard({
    dir: tmp.path,
    config,
    telemetry: await startTelemetry("test", {}),
    source: { agent: "main", role: "agent", host: "test" },
  });
});

afterAll(async () => {
  await rig?.stop();
  upstream?.close();
  tmp?.cleanup();
});

const body = { model: "gpt-4.1", stream: true, messages: [{ role: "user", content: "hi" }] };

describe("a streamed answer that carries the injected key, cut across chunks", () => {
  it("reaches the client without the key, and its first event at once", { timeout: 20_000 }, async () => {
    firstSeen = Promise.withResolvers();
    const res = await fetch(`${rig.server.url}/llm/p/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(decoder.decode(value, { stream: true }));
      if (chunks.join("").includes('"first "')) firstSeen.resolve();
    }
    const text = chunks.join("");
    expect(text).not.toContain(KEY);
    // Not even a piece of it: the cuts were 5 and 12 bytes in.
    expect(text).not.toContain(KEY.slice(5, 17));
    expect(text.split(SHOWN)).toHaveLength(3);
    expect(text).toContain(`your key is ${SHOWN}, twice: ${SHOWN}`);
    expect(chunks.length).toBeGreaterThan(2);
  });

  it("and through the OpenAI SDK's stream", { timeout: 20_000 }, async () => {
    firstSeen = Promise.withResolvers();
    const client = new OpenAI({
      apiKey: "agent-has-none",
      baseURL: `${rig.server.url}/llm/p`,
      maxRetries: 0,
    });
    const stream = await client.chat.completions.create({
      model: "gpt-4.1",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    let content = "";
    for await (const part of stream) {
      content += part.choices[0]?.delta.content ?? "";
      if (content.startsWith("first ")) firstSeen.resolve();
    }
    expect(content).toBe(`first your key is ${SHOWN}, twice: ${SHOWN}`);
  });
});
