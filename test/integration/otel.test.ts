import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import OpenAI from "openai";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { startFakeProvider } from "../support/fake-provider.ts";
import { freePort, Processes, runCli, waitUntilUp } from "../support/processes.ts";

/**
 * OpenTelemetry from the real processes to a local OTLP/HTTP receiver: each exec is a span from
 * the sidecar, each ingest a span from the collector, and no span carries command output.
 */

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}
interface Received {
  service: string;
  resource: OtlpAttribute[];
  span: OtlpSpan;
}

const procs = new Processes();
const ws = tempDir("clawguard-otel-");
const state = tempDir("clawguard-otel-state-");
const received: Received[] = [];
const raw: string[] = [];
/** content-type by signal path, per request (the protocol each process used). */
const contentTypes: string[] = [];
/** Metric names seen at /v1/metrics. */
const metricNames = new Set<string>();
let receiver: Server;

afterAll(async () => {
  await procs.cleanup();
  receiver?.close();
  ws.cleanup();
  state.cleanup();
});

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return (
    v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : (v?.doubleValue ?? v?.boolValue))
  );
}

describe("OpenTelemetry traces over OTLP/HTTP", () => {
  it("exports a span per exec and per LLM call (sidecar) and per ingest (collector)", {
    timeout: 60_000,
  }, async () => {
    const fake = await startFakeProvider();
    onTestFinished(() => fake.close());
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        raw.push(text);
        contentTypes.push(`${req.url} ${req.headers["content-type"]}`);
        if (req.headers["content-type"] === "application/x-protobuf") {
          // The collector's (default protocol): its strings are in the bytes as they are.
          res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
          return;
        }
        if (req.url === "/v1/metrics") {
          for (const name of text.matchAll(/"name":"([^"]+)"/g)) metricNames.add(name[1] as string);
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
          return;
        }
        const body = JSON.parse(text) as {
          resourceSpans: {
            resource: { attributes: OtlpAttribute[] };
            scopeSpans: { spans: OtlpSpan[] }[];
          }[];
        };
        for (const rs of body.resourceSpans) {
          const service = String(
            rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue,
          );
          for (const ss of rs.scopeSpans)
            for (const span of ss.spans) received.push({ service, resource: rs.resource.attributes, span });
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    receiver.listen(0, "127.0.0.1");
    await once(receiver, "listening");
    // The collector on the default protocol (http/protobuf), the sidecar on the one it is told.
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as { port: number }).port}`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_METRIC_EXPORT_INTERVAL: "500",
    };

    mkdirSync(join(ws.path, ".clawguard"));
    const ingest = randomBytes(16).toString("hex");
    writeFileSync(join(ws.path, "tokens"), `main ${ingest}\n`);
    const [cport, sport] = [await freePort(), await freePort()];
    const collector = procs.cli(
      "collector",
      ["collector"],
      {
        ...otel,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${cport}`,
        CLAWGUARD_INGEST_TOKENS_FILE: join(ws.path, "tokens"),
        CLAWGUARD_READ_TOKEN: randomBytes(16).toString("hex"),
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${cport}/readyz`, collector);
    writeFileSync(
      join(ws.path, "clawguard.yaml"),
      [
        "llm:",
        "  authCheckIntervalMs: 0",
        "  providers:",
        "    openai:",
        `      upstream: ${fake.url}/v1`,
        "      api: openai-completions",
        "      models: [{ id: gpt-4.1, contextWindow: 128000, maxTokens: 4096 }]",
      ].join("\n"),
    );
    const sidecar = procs.cli(
      "sidecar",
      ["sidecar", "--config", join(ws.path, "clawguard.yaml")],
      {
        ...otel,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_INGEST_TOKEN: ingest,
        CLAWGUARD_STATE_DIR: state.path,
        CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${cport}`,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sport}`,
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${sport}/healthz`, sidecar);

    const secretOutput = `needle-${randomBytes(8).toString("hex")}`;
    // The agent runs its commands itself; their events reach the sidecar through the inbox.
    for (const argv of [
      ["echo", secretOutput],
      ["sh", "-c", "exit 2"],
    ]) {
      const run = await runCli(
        ["exec", "--session", "otel", "--", ...argv],
        { CLAWGUARD_WORKSPACE: ws.path, CLAWGUARD_EXEC_CACHE: "off" },
        ws.path,
      );
      expect(run.code, run.output).toBe(argv[0] === "echo" ? 0 : 2);
    }

    // An LLM call carrying the agent's trace context, with content that must not reach a span.
    const traceId = randomBytes(16).toString("hex");
    const parentId = randomBytes(8).toString("hex");
    const secretPrompt = `prompt-${randomBytes(8).toString("hex")}`;
    const llm = new OpenAI({
      apiKey: "test-key",
      baseURL: `http://127.0.0.1:${sport}/llm/openai`,
      defaultHeaders: { traceparent: `00-${traceId}-${parentId}-01` },
      maxRetries: 0,
    });
    const stream = await llm.chat.completions.create({
      model: "gpt-4.1",
      messages: [{ role: "user", content: secretPrompt }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _ of stream) {
      // drained
    }
    // An embeddings call is not chat (the stand-in has no such endpoint: the span says so too).
    await (
      await fetch(`http://127.0.0.1:${sport}/llm/openai/embeddings`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer test-key" },
        body: JSON.stringify({ model: "text-embedding-3-small", input: "hello" }),
      })
    ).arrayBuffer();

    const deadline = Date.now() + 20_000;
    const spans = () => received.filter((r) => r.span.name.startsWith("exec "));
    const chat = () => received.find((r) => r.span.name === "chat gpt-4.1");
    while (Date.now() < deadline) {
      const all =
        spans().length >= 2 &&
        chat() &&
        metricNames.has("gen_ai.client.operation.duration") &&
        metricNames.has("clawguard.llm.prompt_cache.hit_ratio");
      const embeddings = received.some((r) => attr(r.span, "gen_ai.operation.name") === "embeddings");
      if (all && embeddings && raw.some((t) => t.includes("collector.ingest"))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The LLM call: a GenAI client span in the agent's trace, its parent the agent's span, and
    // the provider sees the call's own span as its parent.
    const call = chat()?.span as OtlpSpan;
    expect(call.traceId).toBe(traceId);
    expect(call.parentSpanId).toBe(parentId);
    expect(attr(call, "gen_ai.operation.name")).toBe("chat");
    expect(attr(call, "gen_ai.provider.name")).toBe("openai");
    expect(attr(call, "gen_ai.request.model")).toBe("gpt-4.1");
    expect(attr(call, "gen_ai.usage.input_tokens")).toBe(fake.requests[0]?.promptTokens);
    expect(attr(call, "gen_ai.usage.output_tokens")).toBeGreaterThan(0);
    expect(attr(call, "gen_ai.response.time_to_first_chunk")).toBeDefined();
    expect(fake.requests[0]?.headers.traceparent).toBe(`00-${traceId}-${call.spanId}-01`);
    expect(raw.join("")).not.toContain(secretPrompt);
    for (const metric of [
      "gen_ai.client.operation.duration",
      "gen_ai.client.operation.time_to_first_chunk",
      "gen_ai.client.token.usage",
    ]) {
      expect(metricNames).toContain(metric);
    }
    // A 0-1 ratio gets 0-1 buckets.
    const ratio = raw.find((t) => t.includes('"name":"clawguard.llm.prompt_cache.hit_ratio"')) ?? "";
    const bounds = /"name":"clawguard\.llm\.prompt_cache\.hit_ratio".*?"explicitBounds":\[([^\]]*)\]/.exec(
      ratio,
    );
    expect(bounds?.[1]?.split(",").map(Number)).toEqual([
      0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1,
    ]);
    const echo = spans().find((r) => r.span.name === "exec echo");
    const failing = spans().find((r) => r.span.name === "exec sh");
    expect(echo?.service).toBe("clawguard-sidecar");
    expect(echo && attr(echo.span, "process.exit.code")).toBe(0);
    expect(echo && attr(echo.span, "session.id")).toBe("otel");
    expect(echo && attr(echo.span, "clawguard.exec.output_bytes")).toBe(secretOutput.length + 1);
    expect(failing && attr(failing.span, "process.exit.code")).toBe(2);
    expect(failing?.span.status?.code).toBe(2); // ERROR
    // Every sidecar span says which agent and which version; the collector's went as protobuf.
    const resource = Object.fromEntries((echo?.resource ?? []).map((a) => [a.key, a.value.stringValue]));
    expect(resource).toMatchObject({
      "service.instance.id": "main",
      "service.version": "0.1.0",
      "clawguard.agent": "main",
      "clawguard.role": "agent",
    });
    expect(chat()?.resource).toEqual(echo?.resource);
    // Named `<operation> <model>` as the GenAI conventions say, the model read from the body.
    expect(received.find((r) => attr(r.span, "gen_ai.operation.name") === "embeddings")?.span.name).toBe(
      "embeddings text-embedding-3-small",
    );
    expect(contentTypes).toContain("/v1/traces application/x-protobuf");
    expect(contentTypes).toContain("/v1/traces application/json");
    const protobuf = raw.find((t) => t.includes("collector.ingest"));
    expect(protobuf).toContain("clawguard-collector");
    expect(raw.join("")).not.toContain(secretOutput);

    expect(await sidecar.kill("SIGTERM")).toBe(0);
    expect(await collector.kill("SIGTERM")).toBe(0);
  });
});
