import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { afterEach, describe, expect, it } from "vitest";
import { proberConfig } from "./config.ts";
import { Prober } from "./index.ts";

/** A stand-in gateway: /readyz, the chat endpoint, and the Control UI's HTML everywhere else. */
let server: Server | undefined;
let mode: "ok" | "html" | "unauthorized" | "failing" = "ok";

async function gateway(): Promise<string> {
  server = createServer((req, res) => {
    if (req.url === "/readyz" && mode !== "html") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ready":true,"failing":[]}');
    } else if (req.url === "/v1/chat/completions" && req.method === "POST") {
      if (mode === "unauthorized") res.writeHead(401).end('{"error":{"message":"unauthorized"}}');
      else if (mode === "failing")
        res.writeHead(500).end('{"error":{"message":"internal error","type":"api_error"}}');
      else if (req.headers.authorization !== "Bearer gw-token") res.writeHead(401).end("{}");
      else
        res
          .writeHead(200, { "content-type": "application/json" })
          .end('{"choices":[{"message":{"role":"assistant","content":"pong"}}]}');
    } else
      res
        .writeHead(200, { "content-type": "text/html" })
        .end("<!doctype html><html><body>Control UI</body></html>");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  mode = "ok";
});

function prober(url: string, extra: Record<string, unknown>[] = [], degradedBy?: () => string[]) {
  const events: EventDraft[] = [];
  const changes: string[] = [];
  const p = new Prober({
    config: proberConfig.parse({
      failuresToFail: 2,
      successesToPass: 2,
      timeoutMs: 2000,
      probes: [
        { name: "ready", kind: "http", url: `${url}/readyz`, expectBody: '"ready":true' },
        { name: "chat", kind: "chat", url: `${url}/v1/chat/completions`, token: { env: "GW_TOKEN" } },
        ...extra,
      ],
    }),
    env: { GW_TOKEN: "gw-token", PATH: process.env.PATH },
    source: { agent: "main", role: "gateway", host: "test" },
    degradedBy,
    publish: async (drafts) => {
      events.push(...drafts);
    },
    onChange: (health) => changes.push(health.state),
    log: silentLogger,
  });
  return { p, events, changes };
}

describe("Prober", () => {
  it("is unknown until probed, healthy when the agent answers, unhealthy after N failures in a row, with reasons", async () => {
    const url = await gateway();
    const { p, events, changes } = prober(url);
    expect(p.health().state).toBe("unknown");
    await p.probeOnce();
    expect(p.health()).toMatchObject({ state: "healthy", reasons: [] });
    mode = "unauthorized";
    await p.probeOnce();
    expect(p.health().state).toBe("healthy"); // one failure is not yet a state
    await p.probeOnce();
    const health = p.health();
    expect(health.state).toBe("unhealthy");
    expect(health.reasons[0]).toMatch(/^chat: the gateway refused the probe's token \(HTTP 401\)/);
    expect(events.map((e) => e.attrs.to)).toEqual(["healthy", "unhealthy"]);
    expect(changes).toEqual(["healthy", "unhealthy"]); // each change told at once (the heartbeat)
    mode = "ok";
    await p.probeOnce();
    expect(p.health().state).toBe("unhealthy"); // recovery also needs successes in a row
    await p.probeOnce();
    expect(p.health().state).toBe("healthy");
  });

  it("tells an HTML page on a 200 from the readiness answer (OpenClaw's Control UI on unknown paths)", async () => {
    const url = await gateway();
    mode = "html";
    const { p } = prober(url);
    await p.probeOnce();
    await p.probeOnce();
    expect(p.health().reasons.join("\n")).toMatch(
      /ready: HTTP 200 .* but the body does not match "ready":true \(an HTML page/,
    );
  });

  it("says the gateway is down, and a degraded-severity probe or another degradation only degrades", async () => {
    const url = await gateway();
    const { p } = prober(
      url,
      [
        {
          name: "disk",
          kind: "command",
          severity: "degraded",
          argv: ["sh", "-c", "echo disk 97% full; exit 1"],
        },
      ],
      () => ["openai: the provider refused the credential"],
    );
    await p.probeOnce();
    await p.probeOnce();
    expect(p.health().state).toBe("degraded");
    expect(p.health().reasons).toEqual([
      "disk: sh -c echo disk 97% full; exit 1 exited 1: disk 97% full (2 in a row)",
      "openai: the provider refused the credential",
    ]);
    server?.closeAllConnections();
    server?.close();
    await p.probeOnce();
    await p.probeOnce();
    expect(p.health().state).toBe("unhealthy");
    expect(p.health().reasons[0]).toMatch(/ready: connection refused/);
  });

  it("probes a TCP port, and never runs longer than its timeout", async () => {
    const url = await gateway();
    const port = Number(new URL(url).port);
    const { p } = prober(url, [
      { name: "port", kind: "tcp", port },
      { name: "slow", kind: "command", argv: ["sleep", "5"], timeoutMs: 200 },
    ]);
    const t0 = Date.now();
    await p.probeOnce();
    expect(Date.now() - t0).toBeLessThan(2000);
    const probes = p.health().probes;
    expect(probes.find((s) => s.name === "port")?.last?.ok).toBe(true);
    expect(probes.find((s) => s.name === "slow")?.last?.detail).toMatch(/did not finish within 200 ms/);
  });
});
