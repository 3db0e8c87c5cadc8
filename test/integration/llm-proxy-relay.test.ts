import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { tempDir } from "@clawguard/shared/testing";
import { llmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import { Client } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGuard, startLlmGuard } from "../support/llm-guard.ts";

/**
 * How the proxy relays answers of every size: a chunked answer small enough to hold goes out whole
 * (one write, with its length); a longer one streams, byte for byte; and a client that stops
 * reading stops the provider too (the upstream connection is paused), instead of the answer piling
 * up in the sidecar.
 */

const source = { agent: "main", role: "agent", host: "test" };
const MB = 1024 * 1024;
let tmp: ReturnType<typeof tempDir>;
let upstream: Server;
let rig: RunningGuard;
/** Bytes the provider has handed to its socket for the answer being sent. */
let written = 0;

/** n bytes counting up in 32-bit words, so a lost, doubled or reordered chunk shows. */
function pattern(n: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = i;
  return Buffer.from(words.buffer, 0, n);
}

beforeAll(async () => {
  tmp = tempDir("clawguard-llm-relay-");
  // Answers /v1/bytes/<n> with n pattern bytes, chunked (no content-length), 16 KiB at a time,
  // honouring backpressure the way a real server does.
  upstream = createServer((req, res) => {
    const size = Number(/^\/v1\/bytes\/(\d+)$/.exec(req.url ?? "")?.[1] ?? 0);
    const body = pattern(size);
    written = 0;
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const pump = () => {
      while (written < body.length) {
        const chunk = body.subarray(written, written + 16 * 1024);
        written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    req.resume();
    req.once("end", pump);
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  const { port } = upstream.address() as AddressInfo;
  const config = llmProxyConfig.parse({
    providers: { raw: { upstream: `http://127.0.0.1:${port}/v1`, api: "openai-completions" } },
    authCheckIntervalMs: 0,
  });
  const telemetry = await startTelemetry("test", {});
  rig = await startLlmGuard({ dir: tmp.path, config, telemetry, source });
});

afterAll(async () => {
  await rig?.stop();
  upstream?.close();
  upstream?.closeAllConnections();
  tmp?.cleanup();
});

describe("relaying answers", () => {
  it("a chunked answer under the whole-answer limit goes out in one piece, with its length", async () => {
    const client = new Client(rig.server.url);
    try {
      const res = await client.request({ path: "/llm/raw/bytes/300000", method: "GET" });
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-length"]).toBe("300000");
      expect(res.headers["transfer-encoding"]).toBeUndefined();
      expect(Buffer.from(await res.body.arrayBuffer()).equals(pattern(300_000))).toBe(true);
    } finally {
      await client.destroy();
    }
  });

  it("a longer answer streams through byte for byte", async () => {
    const client = new Client(rig.server.url);
    try {
      const res = await client.request({ path: `/llm/raw/bytes/${5 * MB}`, method: "GET" });
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-length"]).toBeUndefined();
      expect(Buffer.from(await res.body.arrayBuffer()).equals(pattern(5 * MB))).toBe(true);
    } finally {
      await client.destroy();
    }
  });

  it("a client that stops reading stops the provider; once it reads again, every byte arrives", async () => {
    const size = 128 * MB;
    const client = new Client(rig.server.url);
    try {
      const res = await client.request({ path: `/llm/raw/bytes/${size}`, method: "GET", highWaterMark: 1 });
      // Nothing read for a while: what the provider got out is bounded by the socket buffers on
      // the way (a few MB on loopback) and the proxy's own 64 KiB, not by the answer's size.
      await new Promise((r) => setTimeout(r, 1000));
      const stalled = written;
      await new Promise((r) => setTimeout(r, 300));
      expect(written).toBe(stalled);
      expect(stalled).toBeLessThan(48 * MB);
      let received = 0;
      let mismatch = -1;
      const expected = pattern(size);
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (mismatch < 0 && !chunk.equals(expected.subarray(received, received + chunk.length)))
          mismatch = received;
        received += chunk.length;
      }
      expect(mismatch).toBe(-1);
      expect(received).toBe(size);
    } finally {
      await client.destroy();
    }
  }, 60_000);
});
