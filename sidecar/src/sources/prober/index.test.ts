import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { createLogger, silentLogger } from "@clawguard/shared/log";
import { afterEach, describe, expect, it } from "vitest";
import { proberConfig } from "./config.ts";
import { Prober } from "./index.ts";

/**
 * A stand-in gateway: /readyz, the chat endpoint, and the Control UI's HTML everywhere else. The
 * chat endpoint's error bodies are the ones the real OpenClaw 2026.9.6 answers with (its own
 * refusal of a token; a provider's 401 and 403 relayed; the 500 while it holds a refused key back).
 */
let server: Server | undefined;
type Mode =
  | "ok"
  | "html"
  | "unauthorized"
  | "failing"
  | "provider-401"
  | "provider-403"
  | "provider-quota"
  | "no-response"
  | "cut";
let mode: Mode = "ok";
/** The chat requests' bodies, as received. */
let chats: Record<string, unknown>[] = [];

const BODIES: Partial<Record<Mode, [number, unknown]>> = {
  unauthorized: [401, { error: { message: "Unauthorized", type: "unauthorized" } }],
  failing: [500, { error: { message: "internal error", type: "api_error" } }],
  "provider-401": [
    401,
    {
      error: {
        message:
          "401 Incorrect API key provided: sk-bad****1234. You can find your API key at https://platform.openai.com/account/api-keys.",
        type: "authentication_error",
      },
    },
  ],
  "provider-403": [
    403,
    { error: { message: "403 Country, region, or territory not supported", type: "permission_error" } },
  ],
  "provider-quota": [
    403,
    { error: { message: "403 Your credit balance is too low", type: "insufficient_quota" } },
  ],
  "no-response": [
    200,
    {
      choices: [
        { message: { role: "assistant", content: "No response from OpenClaw." }, finish_reason: "stop" },
      ],
    },
  ],
  cut: [200, { choices: [{ message: { role: "assistant", content: "" }, finish_reason: "length" }] }],
};

async function gateway(): Promise<string> {
  server = createServer(async (req, res) => {
    if (req.url === "/readyz" && mode !== "html") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ready":true,"failing":[]}');
    } else if (req.url === "/v1/chat/completions" && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      chats.push(JSON.parse(Buffer.concat(chunks).toString()));
      const canned = BODIES[mode];
      if (canned)
        res.writeHead(canned[0], { "content-type": "application/json" }).end(JSON.stringify(canned[1]));
      else if (req.headers.authorization !== "Bearer gw-token") res.writeHead(401).end("{}");
      else
        res
          .writeHead(200, { "content-type": "application/json" })
          .end('{"choices":[{"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}]}');
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
  chats = [];
});

function prober(
  url: string,
  extra: Record<string, unknown>[] = [],
  degradedBy?: () => string[],
  now?: () => number,
) {
  const events: EventDraft[] = [];
  const changes: string[] = [];
  const p = new Prober({
    now,
    config: proberConfig.parse({
      intervalMs: 10_000,
      failuresToFail: 2,
      successesToPass: 2,
      timeoutMs: 2000,
      probes: [
        { name: "ready", kind: "http", url: `${url}/readyz`, expectBody: '"ready":true' },
        // intervalMs 100: every round (a chat probe runs every 10 s by default).
        {
          name: "chat",
          kind: "chat",
          url: `${url}/v1/chat/completions`,
          token: { env: "GW_TOKEN" },
          intervalMs: 100,
        },
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
    expect(p.health()).toMatchObject({
      state: "unknown",
      reasons: ["no probe has passed yet, nor failed 2 times in a row: ready, chat"],
    });
    await p.probeOnce();
    expect(p.health()).toMatchObject({ state: "healthy", reasons: [] });
    mode = "unauthorized";
    await p.probeOnce();
    expect(p.health().state).toBe("healthy"); // one failure is not yet a state
    await p.probeOnce();
    const health = p.health();
    expect(health.state).toBe("unhealthy");
    expect(health.reasons[0]).toBe(
      "chat: the gateway refused the probe's token (HTTP 401: Unauthorized): check gateway.auth.token and probe.probes.chat.token (2 in a row)",
    );
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

  it("sends every chat probe of a window in one session, with a short question and a small cap; the next window gets the next", async () => {
    const url = await gateway();
    let clock = 1_800_000_000_000; // a multiple of the window (50 probes of 10 s)
    const { p } = prober(url, [], undefined, () => clock);
    for (let i = 0; i < 3; i++) {
      await p.probeOnce();
      clock += 10_000;
    }
    const window = 1_800_000_000_000 / 500_000;
    expect(chats).toHaveLength(3);
    for (const body of chats) {
      expect(body).toEqual({
        model: "openclaw/main",
        user: `clawguard-probe-chat-${window}`,
        messages: [{ role: "user", content: "Reply with the single word: pong" }],
        max_tokens: 64,
      });
    }
    clock = 1_800_000_000_000 + 50 * 10_000 - 1; // the window's last millisecond
    await p.probeOnce();
    clock += 1; // the 51st interval: a fresh session
    await p.probeOnce();
    expect(chats.map((b) => b.user).slice(3)).toEqual([
      `clawguard-probe-chat-${window}`,
      `clawguard-probe-chat-${window + 1}`,
    ]);
  });

  it("tells a provider's refused credential, relayed by OpenClaw, from the gateway refusing the probe's token", async () => {
    const url = await gateway();
    const { p } = prober(url);
    const chatReason = () => p.health().probes.find((s) => s.name === "chat")?.last?.detail;
    mode = "provider-401";
    await p.probeOnce();
    expect(chatReason()).toBe(
      "the agent's provider rejected its credential: 401 Incorrect API key provided: sk-bad****1234. You can find your API key at https://platform.openai.com/account/api-keys. (HTTP 401)",
    );
    // OpenClaw then holds the key back and answers 500 "internal error": still the provider's refusal.
    mode = "failing";
    await p.probeOnce();
    expect(p.health().state).toBe("unhealthy");
    expect(p.health().reasons[0]).toMatch(
      /^chat: the agent's provider rejected its credential: 401 Incorrect API key provided: sk-bad\*{4}1234\. .* \(HTTP 401\); since then OpenClaw holds the credential back and answers HTTP 500 "internal error" until it tries it again \(2 in a row\)$/,
    );
    mode = "provider-403";
    await p.probeOnce();
    expect(chatReason()).toBe(
      "the agent's provider rejected its credential: 403 Country, region, or territory not supported (HTTP 403)",
    );
    mode = "provider-quota";
    await p.probeOnce();
    expect(chatReason()).toBe(
      "the agent's provider refused it for billing or quota: 403 Your credit balance is too low (HTTP 403)",
    );
    mode = "unauthorized";
    await p.probeOnce();
    expect(chatReason()).toBe(
      "the gateway refused the probe's token (HTTP 401: Unauthorized): check gateway.auth.token and probe.probes.chat.token",
    );
    // Once the agent answered, a 500 is no longer put down to the credential.
    mode = "ok";
    await p.probeOnce();
    mode = "failing";
    await p.probeOnce();
    expect(chatReason()).toBe(
      'the agent did not answer: HTTP 500 {"error":{"message":"internal error","type":"api_error"}} (the reason is in the gateway log)',
    );
  });

  it("fails on OpenClaw's stand-in text for no answer, and names maxTokens when the answer was cut", async () => {
    const url = await gateway();
    const { p } = prober(url);
    const chatReason = () => p.health().probes.find((s) => s.name === "chat")?.last?.detail;
    mode = "no-response";
    await p.probeOnce();
    expect(chatReason()).toMatch(/^agent main answered with no text: .*No response from OpenClaw/);
    mode = "cut";
    await p.probeOnce();
    expect(chatReason()).toBe(
      "agent main answered with no text within 64 tokens: raise probe.probes.chat.maxTokens (a reasoning model spends tokens before it answers)",
    );
  });

  it("runs a chat probe with an interval of its own only every that often, in sessions of sessionTurns of its own intervals", async () => {
    const url = await gateway();
    let clock = 1_800_000_000_000; // a multiple of 50 x 30 s
    const p = new Prober({
      now: () => clock,
      config: proberConfig.parse({
        intervalMs: 10_000,
        probes: [
          { name: "ready", kind: "http", url: `${url}/readyz` },
          {
            name: "chat",
            kind: "chat",
            url: `${url}/v1/chat/completions`,
            token: { env: "GW_TOKEN" },
            intervalMs: 30_000,
          },
        ],
      }),
      env: { GW_TOKEN: "gw-token" },
      source: { agent: "main", role: "gateway", host: "test" },
      publish: async () => {},
      log: silentLogger,
    });
    const runs: number[] = [];
    for (let round = 0; round < 7; round++) {
      const before = chats.length;
      await p.probeOnce();
      if (chats.length > before) runs.push(round);
      clock += 9_995; // a timer may fire a little early by the wall clock
    }
    expect(runs).toEqual([0, 3, 6]);
    expect(p.health().probes.map((s) => s.consecutiveSuccesses)).toEqual([7, 3]);
    expect(new Set(chats.map((b) => b.user))).toEqual(
      new Set([`clawguard-probe-chat-${1_800_000_000_000 / 1_500_000}`]),
    );
  });

  it("stop aborts a chat probe the gateway never answers, records it, and does not count it against the agent", async () => {
    let arrived: () => void = () => {};
    const seen = new Promise<void>((r) => {
      arrived = r;
    });
    const silent = createServer(() => arrived()); // takes the request, never answers
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const lines: string[] = [];
    const published: EventDraft[] = [];
    const p = new Prober({
      config: proberConfig.parse({
        intervalMs: 100_000,
        timeoutMs: 600_000,
        probes: [
          {
            name: "chat",
            kind: "chat",
            url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/chat/completions`,
          },
        ],
      }),
      env: {},
      source: { agent: "main", role: "gateway", host: "test" },
      publish: async (drafts) => {
        published.push(...drafts);
      },
      log: createLogger({ format: "json", write: (line) => lines.push(line) }),
    });
    await p.start();
    await seen;
    const t0 = performance.now();
    await p.stop();
    expect(performance.now() - t0).toBeLessThan(200);
    expect(lines.map((l) => JSON.parse(l))).toContainEqual(
      expect.objectContaining({ msg: "probes aborted: the sidecar is stopping", probes: ["chat"] }),
    );
    expect(p.health().probes[0]?.consecutiveFailures).toBe(0);
    expect(published).toEqual([]);
    silent.closeAllConnections();
    silent.close();
  });
});
