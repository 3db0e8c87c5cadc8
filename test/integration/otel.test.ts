import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * OpenTelemetry from the real processes to a local OTLP/HTTP receiver: each exec is a span from
 * the sidecar, each ingest a span from the collector, and no span carries command output.
 */

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}
interface OtlpSpan {
  name: string;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}
interface Received {
  service: string;
  span: OtlpSpan;
}

const procs = new Processes();
const ws = tempDir("clawguard-otel-");
const received: Received[] = [];
const raw: string[] = [];
let receiver: Server;

afterAll(async () => {
  await procs.cleanup();
  receiver?.close();
  ws.cleanup();
});

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.boolValue);
}

describe("OpenTelemetry traces over OTLP/HTTP", () => {
  it("exports a span per exec (sidecar) and per ingest (collector)", { timeout: 60_000 }, async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        raw.push(text);
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
          for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    receiver.listen(0, "127.0.0.1");
    await once(receiver, "listening");
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as { port: number }).port}`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };

    mkdirSync(join(ws.path, ".clawguard"));
    const ingest = randomBytes(16).toString("hex");
    const apiToken = randomBytes(16).toString("hex");
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
    const sidecar = procs.cli(
      "sidecar",
      ["sidecar"],
      {
        ...otel,
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_INGEST_TOKEN: ingest,
        CLAWGUARD_SIDECAR_TOKEN: apiToken,
        CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${cport}`,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sport}`,
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${sport}/healthz`, sidecar);

    const secretOutput = `needle-${randomBytes(8).toString("hex")}`;
    for (const argv of [
      ["echo", secretOutput],
      ["sh", "-c", "exit 2"],
    ]) {
      const response = await fetch(`http://127.0.0.1:${sport}/v1/exec`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ argv, session: "otel" }),
      });
      expect(response.status).toBe(200);
    }

    const deadline = Date.now() + 20_000;
    const spans = () => received.filter((r) => r.span.name.startsWith("exec "));
    while (Date.now() < deadline) {
      if (spans().length >= 2 && received.some((r) => r.span.name === "collector.ingest")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const echo = spans().find((r) => r.span.name === "exec echo");
    const failing = spans().find((r) => r.span.name === "exec sh");
    expect(echo?.service).toBe("clawguard-sidecar");
    expect(echo && attr(echo.span, "process.exit.code")).toBe(0);
    expect(echo && attr(echo.span, "session.id")).toBe("otel");
    expect(echo && attr(echo.span, "clawguard.exec.output_bytes")).toBe(secretOutput.length + 1);
    expect(failing && attr(failing.span, "process.exit.code")).toBe(2);
    expect(failing?.span.status?.code).toBe(2); // ERROR
    expect(received.find((r) => r.span.name === "collector.ingest")?.service).toBe("clawguard-collector");
    expect(raw.join("")).not.toContain(secretOutput);

    expect(await sidecar.kill("SIGTERM")).toBe(0);
    expect(await collector.kill("SIGTERM")).toBe(0);
  });
});
