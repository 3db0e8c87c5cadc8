import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { configSummary, HeartbeatSender, measureOffset } from "./index.ts";

const configFingerprint = (config: unknown, file?: string) => configSummary(config, file).fingerprint;
const configKeys = (config: unknown, file?: string) => configSummary(config, file).keys;

describe("configFingerprint", () => {
  it("is the same for the same config, ignores secret values, and changes with any other setting", () => {
    const tmp = tempDir("clawguard-fp-");
    try {
      const a = join(tmp.path, "a.json");
      const b = join(tmp.path, "b.json");
      writeFileSync(a, '{ models: { providers: { openai: { apiKey: "sk-one", baseUrl: "http://x" } } } }');
      writeFileSync(b, '{ models: { providers: { openai: { apiKey: "sk-two", baseUrl: "http://x" } } } }');
      const config = { exec: { maxBytes: 51200 } };
      expect(configFingerprint(config, a)).toBe(configFingerprint({ exec: { maxBytes: 51200 } }, b));
      expect(configFingerprint(config, a)).toMatch(/^[0-9a-f]{64}$/);
      expect(configFingerprint({ exec: { maxBytes: 1 } }, a)).not.toBe(configFingerprint(config, a));
      // Per key, so drift can be named: only the key that changed has another hash.
      const [one, two] = [configKeys(config, a), configKeys({ exec: { maxBytes: 1 } }, a)];
      expect(Object.keys(one)).toEqual(["clawguard.exec.maxBytes", "openclaw.models.providers.openai"]);
      expect(one["openclaw.models.providers.openai"]).toBe(two["openclaw.models.providers.openai"]);
      expect(one["clawguard.exec.maxBytes"]).not.toBe(two["clawguard.exec.maxBytes"]);
    } finally {
      tmp.cleanup();
    }
  });
});

describe("HeartbeatSender", () => {
  it("posts the agent's state with its token, and says whether the collector took it", async () => {
    const bodies: { auth: string | undefined; body: Record<string, unknown> }[] = [];
    let status = 200;
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => {
        text += c;
      });
      req.on("end", () => {
        bodies.push({ auth: req.headers.authorization, body: JSON.parse(text) });
        res.writeHead(status, { "content-type": "application/json" }).end('{"ok":true}');
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const sender = new HeartbeatSender({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: "ingest-token",
      intervalMs: 10_000,
      timeoutMs: 2000,
      source: { agent: "sub1", role: "sub-agent", host: "h1" },
      health: () => ({
        state: "degraded",
        reasons: ["openai: the provider refused the credential"],
        probes: [
          {
            name: "chat",
            kind: "chat",
            severity: "critical",
            state: "passing",
            consecutiveFailures: 0,
            consecutiveSuccesses: 3,
          },
        ],
      }),
      config: { exec: { maxBytes: 51200 } },
      log: silentLogger,
    });
    try {
      expect(await sender.send()).toBe(true);
      expect(bodies[0]?.auth).toBe("Bearer ingest-token");
      expect(bodies[0]?.body).toMatchObject({
        agent: "sub1",
        role: "sub-agent",
        host: "h1",
        state: "degraded",
        reasons: ["openai: the provider refused the credential"],
        probes: [{ name: "chat", state: "passing" }],
        intervalMs: 10_000,
        versions: { node: process.version },
      });
      status = 503;
      expect(await sender.send()).toBe(false);
    } finally {
      await sender.stop();
      server.close();
    }
  });

  it("notices an edit to the OpenClaw config made while it runs, and names the key", async () => {
    const tmp = tempDir("clawguard-hb-drift-");
    const bodies: Record<string, unknown>[] = [];
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => {
        text += c;
      });
      req.on("end", () => {
        bodies.push(JSON.parse(text));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const openclaw = join(tmp.path, "openclaw.json");
    writeFileSync(
      openclaw,
      '{ models: { providers: { openai: { baseUrl: "http://sidecar:18801/llm/openai" } } } }',
    );
    const sender = new HeartbeatSender({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: "t",
      intervalMs: 10_000,
      timeoutMs: 2000,
      source: { agent: "sub1", role: "sub-agent", host: "h1" },
      health: () => ({ state: "healthy", reasons: [], probes: [] }),
      config: { exec: { maxBytes: 51200 } },
      openclawConfig: openclaw,
      log: silentLogger,
    });
    try {
      await sender.send();
      await sender.send();
      writeFileSync(
        openclaw,
        '{ models: { providers: { openai: { baseUrl: "https://api.openai.com/v1" } } } }',
      );
      await sender.send();
      const [first, same, edited] = bodies as {
        configFingerprint: string;
        configKeys: Record<string, string>;
      }[];
      expect(same?.configFingerprint).toBe(first?.configFingerprint);
      expect(edited?.configFingerprint).not.toBe(first?.configFingerprint);
      const changed = Object.keys(first?.configKeys ?? {}).filter(
        (k) => first?.configKeys[k] !== edited?.configKeys[k],
      );
      expect(changed).toEqual(["openclaw.models.providers.openai"]);
    } finally {
      await sender.stop();
      server.close();
      tmp.cleanup();
    }
  });

  it("sends at once when kicked (a state change), then keeps its interval from there", async () => {
    const times: number[] = [];
    let release: (() => void) | undefined;
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        times.push(Date.now());
        const answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}");
        // The second heartbeat is held back: a kick meanwhile must not be lost.
        if (times.length === 2) release = answer;
        else answer();
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    let state: "healthy" | "unhealthy" = "healthy";
    const sender = new HeartbeatSender({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: "t",
      intervalMs: 60_000,
      timeoutMs: 5000,
      source: { agent: "gw", role: "gateway", host: "h1" },
      health: () => ({ state, reasons: [], probes: [] }),
      config: {},
      log: silentLogger,
    });
    const until = async (n: number) => {
      for (let i = 0; i < 200 && times.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      expect(times.length).toBe(n);
    };
    try {
      sender.kick(); // before start: nothing
      await sender.start();
      await until(1);
      const started = Date.now();
      state = "unhealthy";
      sender.kick();
      await until(2);
      expect(Date.now() - started).toBeLessThan(1000);
      sender.kick(); // while the second is in flight: sent right after it
      release?.();
      await until(3);
      await new Promise((r) => setTimeout(r, 200));
      expect(times.length).toBe(3); // and then nothing until the interval
    } finally {
      await sender.stop();
      server.close();
    }
  });
});

describe("clock offset from the collector", () => {
  it("is NTP's arithmetic on one exchange", () => {
    // Sent at 1000 here; the collector (an hour behind) got it at its 1000 - 3600000 + 10 and
    // answered 2 ms later; back here at 1024: 24 ms round trip, 2 of them in the collector.
    const t1 = 1000 - 3_600_000 + 10;
    expect(measureOffset(1000, t1, t1 + 2, 1024)).toEqual({ offsetMs: 3_600_000 + 1, rttMs: 22 });
    expect(measureOffset(0, 5, 5, 10)).toEqual({ offsetMs: 0, rttMs: 10 });
  });

  it("measures it on each answered heartbeat, flags it beyond the threshold, and reports it in the next one", async () => {
    const bodies: Record<string, unknown>[] = [];
    let behindMs = 3_600_000; // the collector's clock, against this one
    const server = createServer((req, res) => {
      const received = Date.now() - behindMs;
      let text = "";
      req.on("data", (c: Buffer) => {
        text += c;
      });
      req.on("end", () => {
        bodies.push(JSON.parse(text));
        const clock = {
          received: new Date(received).toISOString(),
          sent: new Date(Date.now() - behindMs).toISOString(),
        };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, clock }));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const sender = new HeartbeatSender({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: "t",
      intervalMs: 10_000,
      timeoutMs: 2000,
      source: { agent: "sub1", role: "sub-agent", host: "h1" },
      health: () => ({ state: "healthy", reasons: [], probes: [] }),
      config: {},
      maxClockSkewMs: 30_000,
      log: silentLogger,
    });
    try {
      expect(sender.clock).toBeUndefined();
      await sender.send();
      expect(bodies[0]?.clock).toBeUndefined();
      const clock = sender.clock;
      expect(clock?.skewed).toBe(true);
      expect(Math.abs((clock?.offsetMs ?? 0) - 3_600_000)).toBeLessThanOrEqual((clock?.rttMs ?? 0) + 5);
      behindMs = 200;
      await sender.send();
      expect(bodies[1]?.clock).toEqual({ offsetMs: clock?.offsetMs, rttMs: clock?.rttMs });
      expect(sender.clock?.skewed).toBe(false);
      expect(Math.abs((sender.clock?.offsetMs ?? 0) - 200)).toBeLessThanOrEqual(
        (sender.clock?.rttMs ?? 0) + 5,
      );
    } finally {
      await sender.stop();
      server.close();
    }
  });
});
