import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { silentLogger } from "@clawguard/shared/log";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { startFakeProvider } from "../support/fake-provider.ts";
import { eventually, type MattermostPost, mattermostStandIn } from "../support/monitoring.ts";
import { freePort, Processes, runCli, waitUntilUp } from "../support/processes.ts";

/**
 * The collector's own alerting, the seed's way (stand-ins for the gateway, the provider and
 * Mattermost; the collector and the sidecar real): a provider answering one call in ten with a 500
 * fires the error-rate alert; the gateway killed fires "gateway down" within 30 s, and its return
 * resolves it; down for 5 s (a quick restart) it pages no one. The probe, heartbeat and evaluation
 * intervals are the defaults. Every firing, resolution and delivery is an audit event of the collector.
 */

const INGEST = "i".repeat(40);
const READ = "r".repeat(40);
const procs = new Processes();
const ws = tempDir("clawguard-alerts-");
const pg = await postgresAvailable();
afterAll(async () => {
  await procs.cleanup();
  ws.cleanup();
});

const titled = (posts: MattermostPost[], pattern: RegExp) => posts.find((p) => pattern.test(p.text ?? ""));

/** Called at each probe the stand-in gateway answers. */
let probed: () => void = () => {};

async function gatewayOn(port: number): Promise<Server> {
  const server = createServer((_, res) => {
    res.writeHead(200).end('{"ready":true}');
    probed();
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return server;
}

describe.skipIf(!pg)("alerts to Mattermost", () => {
  it("fires on 10 % of 500s and on the gateway killed (within 30 s), resolves when it is back", {
    timeout: 180_000,
  }, async () => {
    const mattermost = await mattermostStandIn();
    const provider = await startFakeProvider();
    const gatewayPort = await freePort();
    let gateway = await gatewayOn(gatewayPort);
    const db = await createTestDatabase();
    writeFileSync(join(ws.path, "tokens"), `main ${INGEST}\n`);
    writeFileSync(
      join(ws.path, "collector.yaml"),
      [
        "alerts:",
        "  pageUrl: http://collector.example/fleet",
        "  errorRate: { windowMs: 60000, minCalls: 20 }",
        "  mattermost: [{ url: { env: MATTERMOST_URL } }]",
      ].join("\n"),
    );
    const env = {
      DATABASE_URL: db.url,
      MATTERMOST_URL: mattermost.url,
      CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
      CLAWGUARD_INGEST_TOKENS_FILE: join(ws.path, "tokens"),
      CLAWGUARD_READ_TOKEN: READ,
    };
    const config = loadCollectorConfig(join(ws.path, "collector.yaml"), env, ws.path);
    const collector = await startCollector(config, env, silentLogger);
    const state = tempDir("clawguard-alerts-state-");
    try {
      writeFileSync(
        join(ws.path, "clawguard.yaml"),
        [
          "agent: main",
          "role: gateway",
          "probe:",
          "  probes:",
          `    - { name: gateway, kind: http, url: "http://127.0.0.1:${gatewayPort}/readyz" }`,
          "llm:",
          "  providers:",
          "    stub:",
          `      upstream: ${provider.url}/v1`,
          "      api: openai-completions",
          "      models: [{ id: m, contextWindow: 100000 }]",
        ].join("\n"),
      );
      const sidecarPort = await freePort();
      const sidecar = procs.cli(
        "sidecar",
        ["sidecar", "--config", join(ws.path, "clawguard.yaml")],
        {
          CLAWGUARD_WORKSPACE: ws.path,
          CLAWGUARD_STATE_DIR: state.path,
          CLAWGUARD_INGEST_TOKEN: INGEST,
          CLAWGUARD_COLLECTOR_URL: collector.url,
          CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sidecarPort}`,
        },
        ws.path,
      );
      await waitUntilUp(`http://127.0.0.1:${sidecarPort}/healthz`, sidecar);
      // The collector's rules need a sample from before the calls (a rate is between two): the agent
      // healthy in the fleet, and one evaluation (5 s) since.
      await eventually("the agent healthy in the fleet", async () => {
        const res = await fetch(`${collector.url}/v1/fleet`, {
          headers: { authorization: `Bearer ${READ}` },
        });
        const fleet = (await res.json()) as { agents: { agent: string; state: string }[] };
        return fleet.agents.find((a) => a.agent === "main" && a.state === "healthy");
      });
      await new Promise((r) => setTimeout(r, 6000));

      // 40 calls, every tenth answered 500 by the provider: 10 % > 5 %.
      for (let i = 1; i <= 40; i++) {
        provider.setMode(i % 10 === 0 ? "server-error" : "normal");
        const res = await fetch(`http://127.0.0.1:${sidecarPort}/llm/stub/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer test-key" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: `call ${i}` }] }),
        });
        await res.arrayBuffer();
        expect(res.status).toBe(i % 10 === 0 ? 500 : 200);
      }
      provider.setMode("normal");
      // The sidecar serves the same series for its own agent (its own token).
      const sidecarMetrics = `http://127.0.0.1:${sidecarPort}/metrics`;
      expect((await fetch(sidecarMetrics)).status).toBe(401);
      const sidecarToken = readFileSync(join(state.path, "sidecar.token"), "utf8").trim();
      const calls5xx =
        'clawguard_llm_calls_total{agent="main",provider="stub",model="m",status_class="5xx"} 4';
      // The LLM events reach the bus in batches (50 ms): soon, not at once.
      const ownText = await eventually("the sidecar's own /metrics", async () => {
        const res = await fetch(sidecarMetrics, { headers: { authorization: `Bearer ${sidecarToken}` } });
        const text = await res.text();
        return text.includes(calls5xx) ? text : undefined;
      });
      expect(ownText).toContain(
        'clawguard_agent_probe_passing{agent="main",role="gateway",probe="gateway"} 1',
      );
      expect(ownText).not.toContain("clawguard_ingest_");
      const errorRate = await eventually("the error-rate post", async () =>
        titled(mattermost.posts, /FIRING P1 llm_error_rate on main/),
      );
      expect(errorRate.attachments?.[0]?.title).toBe(
        "main: 10.0 % of LLM calls failed (400/5xx/network), 4 of 40 (threshold 5.0 %)",
      );
      expect(titled(mattermost.posts, /gateway_down/)).toBeUndefined();

      // Down for 5 s (a quick restart): a probe or two fail, not three in a row: no page.
      gateway.closeAllConnections();
      gateway.close();
      await new Promise((r) => setTimeout(r, 5000));
      gateway = await gatewayOn(gatewayPort);
      await new Promise((r) => setTimeout(r, 12_000));
      expect(titled(mattermost.posts, /gateway_down/)).toBeUndefined();

      // The gateway killed: the probe fails 3 times in a row, the heartbeat says unhealthy, the alert fires.
      // Killed just after a probe passed: the worst case, three whole probe intervals to fail.
      await new Promise<void>((resolve) => {
        probed = resolve;
      });
      probed = () => {};
      const killed = Date.now();
      gateway.closeAllConnections();
      gateway.close();
      const down = await eventually(
        "the gateway-down post",
        async () => titled(mattermost.posts, /FIRING P0 gateway_down on main/),
        40_000,
      );
      const firedAfterMs = Date.now() - killed;
      // The defaults' worst case: 3 probes 4 s apart (12 s) and the next evaluation (5 s): 17 s
      // (with the old 10 s probes: 30 s, and up to 35 s).
      expect(firedAfterMs).toBeLessThan(30_000);
      expect(down.attachments?.[0]).toMatchObject({
        color: "#d0021b",
        title_link: "http://collector.example/fleet",
      });
      expect(down.attachments?.[0]?.title).toMatch(/^gateway main is down \(unhealthy: gateway: /);
      const listed = (await (
        await fetch(`${collector.url}/v1/alerts`, { headers: { authorization: `Bearer ${READ}` } })
      ).json()) as { alerts: { alert: string }[] };
      expect(listed.alerts.map((a) => a.alert)).toContain("gateway_down");
      const cli = await runCli(
        ["alerts"],
        { CLAWGUARD_COLLECTOR_URL: collector.url, CLAWGUARD_READ_TOKEN: READ },
        ws.path,
      );
      expect(cli.code).toBe(1);
      expect(cli.stdout).toMatch(/^P0 {2}gateway_down {4}main {9}since \S+ {2}gateway main is down/m);

      gateway = await gatewayOn(gatewayPort);
      await eventually(
        "the resolved post",
        async () => titled(mattermost.posts, /RESOLVED P0 gateway_down on main/),
        30_000,
      );
      console.log(`gateway down notified ${firedAfterMs} ms after the kill (default settings)`);
      // Once fired, once resolved: no flapping in between.
      expect(mattermost.posts.filter((p) => /gateway_down/.test(p.text ?? "")).map((p) => p.text)).toEqual([
        "**:rotating_light: FIRING P0 gateway_down on main**",
        "**:white_check_mark: RESOLVED P0 gateway_down on main**",
      ]);

      const types = async (type: string) =>
        (await collector.store.query({ type, limit: 100 })).events.map(
          (e) => e.attrs as Record<string, unknown>,
        );
      expect((await types("alert.firing")).map((a) => a.alert)).toEqual(
        expect.arrayContaining(["llm_error_rate", "gateway_down"]),
      );
      expect((await types("alert.resolved")).map((a) => a.alert)).toContain("gateway_down");
      await eventually("the deliveries recorded", async () => {
        const notified = await types("alert.notified");
        return notified.length >= 3 && notified.every((n) => n.ok === true) ? notified : undefined;
      });
      await sidecar.kill("SIGTERM");
    } finally {
      await procs.cleanup();
      state.cleanup();
      gateway.closeAllConnections();
      gateway.close();
      await collector.stop();
      await db.drop();
      await provider.close();
      await mattermost.close();
    }
  });
});
