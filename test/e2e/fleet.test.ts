import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, runCli, startCollector, waitUntilUp } from "../support/processes.ts";

/**
 * An agent's health from its sidecar's probes to the collector's fleet view and incidents, with
 * real processes: the gateway stops answering (unhealthy, an incident opens), comes back (the
 * incident resolves), then the sidecar is killed -9 (the agent goes stale).
 */

const procs = new Processes();
const ws = tempDir("clawguard-fleet-");
let gateway: Server | undefined;
afterAll(async () => {
  gateway?.closeAllConnections();
  gateway?.close();
  await procs.cleanup();
  ws.cleanup();
});

interface FleetAgent {
  agent: string;
  state: string;
  stale: boolean;
  reasons: string[];
}

describe("fleet: probes, heartbeats, incidents, staleness", () => {
  it("follows an agent from healthy to unhealthy and back, then stale after kill -9", {
    timeout: 90_000,
  }, async () => {
    let answering = true;
    gateway = createServer((_, res) => {
      if (answering)
        res.writeHead(200, { "content-type": "application/json" }).end('{"ready":true,"failing":[]}');
      else res.writeHead(503).end('{"ready":false,"failing":["draining"]}');
    });
    gateway.listen(0, "127.0.0.1");
    await once(gateway, "listening");
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;

    mkdirSync(join(ws.path, ".clawguard"));
    const { url: collectorUrl, read, tokens } = await startCollector(procs, ws.path, ["gw"]);
    const ingest = tokens.gw as string;
    writeFileSync(
      join(ws.path, "clawguard.yaml"),
      [
        "agent: gw",
        "role: gateway",
        "heartbeat: { intervalMs: 1000 }",
        "probe:",
        "  intervalMs: 200",
        "  failuresToFail: 2",
        "  successesToPass: 2",
        "  probes:",
        `    - { name: ready, kind: http, url: "${gatewayUrl}/readyz", expectBody: '"ready":true' }`,
      ].join("\n"),
    );
    const sport = await freePort();
    const sidecar = procs.cli(
      "sidecar",
      ["sidecar", "--config", join(ws.path, "clawguard.yaml")],
      {
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_INGEST_TOKEN: ingest,
        CLAWGUARD_COLLECTOR_URL: collectorUrl,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sport}`,
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${sport}/healthz`, sidecar);

    const env = { CLAWGUARD_COLLECTOR_URL: collectorUrl, CLAWGUARD_READ_TOKEN: read };
    const fleetAgent = async (): Promise<FleetAgent | undefined> => {
      const run = await runCli(["fleet", "--json"], env, ws.path);
      return (JSON.parse(run.stdout || "{}") as { agents?: FleetAgent[] }).agents?.find(
        (a) => a.agent === "gw",
      );
    };
    const until = async (what: string, ok: (a: FleetAgent) => boolean) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const agent = await fleetAgent();
        if (agent && ok(agent)) return agent;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(agent)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    await until("healthy", (a) => a.state === "healthy" && !a.stale);
    answering = false;
    const down = await until("unhealthy", (a) => a.state === "unhealthy");
    expect(down.reasons[0]).toMatch(/^ready: HTTP 503 from .*\/readyz \(expected 200\)/);
    const open = await runCli(["incidents", "--open", "--json"], env, ws.path);
    const incidents = (JSON.parse(open.stdout) as { incidents: { agent: string; state: string }[] })
      .incidents;
    expect(incidents).toEqual([expect.objectContaining({ agent: "gw", state: "unhealthy" })]);
    answering = true;
    await until("healthy again", (a) => a.state === "healthy");
    const resolved = await runCli(["incidents", "--agent", "gw", "--json"], env, ws.path);
    const all = (
      JSON.parse(resolved.stdout) as {
        incidents: { resolvedAt: string | null; timeline: { kind: string }[] }[];
      }
    ).incidents;
    expect(all[0]?.resolvedAt).not.toBeNull();
    expect(all[0]?.timeline.map((t) => t.kind)).toEqual(expect.arrayContaining(["opened", "resolved"]));

    await sidecar.kill("SIGKILL");
    const stale = await until("stale", (a) => a.stale);
    expect(stale.agent).toBe("gw");
    const fleet = await runCli(["fleet"], env, ws.path);
    expect(fleet.code).toBe(1);
    expect(fleet.stdout).toMatch(/^gw\s+gateway\s+stale/m);
  });
});
