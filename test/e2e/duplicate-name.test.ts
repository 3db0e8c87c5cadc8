import { once } from "node:events";
import { readlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, type Managed, Processes, startCollector, waitUntilUp } from "../support/processes.ts";

/**
 * Two sidecars configured with one agent name (a copied config), each with its own state dir: one
 * healthy, one whose probe fails. They used to flap in the fleet (each heartbeat replaced the
 * other's state, an incident opened and resolved at every turn). Now each sidecar has an instance
 * id kept in its state dir, sent in its heartbeats and events; the collector reports the name as
 * duplicate_name, lists both, and records it once.
 */

const procs = new Processes();
const dir = tempDir("clawguard-duplicate-name-");
let gateway: Server | undefined;
afterAll(async () => {
  gateway?.closeAllConnections();
  gateway?.close();
  await procs.cleanup();
  dir.cleanup();
});

interface Instance {
  instance: string;
  host: string;
  state: string;
}
interface FleetAgent {
  agent: string;
  state: string;
  reasons: string[];
  instances?: Instance[];
}
interface Incident {
  open: boolean;
  timeline: { kind: string; toState: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("two sidecars under one agent name (real processes)", () => {
  it("reported as duplicate_name once, both listed, no flap; an instance id survives a restart", {
    timeout: 120_000,
  }, async () => {
    gateway = createServer((req, res) => {
      if (req.url === "/ok") res.writeHead(200).end("ok");
      else res.writeHead(503).end("down");
    });
    gateway.listen(0, "127.0.0.1");
    await once(gateway, "listening");
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    const c = await startCollector(procs, dir.path, ["main"]);
    const read = { authorization: `Bearer ${c.read}` };

    const sidecar = async (name: string, path: string): Promise<{ proc: Managed; state: string }> => {
      const ws = join(dir.path, `ws-${name}`);
      const state = join(dir.path, `state-${name}`);
      const { mkdirSync } = await import("node:fs");
      mkdirSync(ws, { recursive: true });
      const config = join(dir.path, `${name}.yaml`);
      writeFileSync(
        config,
        [
          "agent: main",
          "role: gateway",
          "heartbeat: { intervalMs: 1000 }",
          "probe:",
          "  intervalMs: 200",
          "  failuresToFail: 1",
          "  probes:",
          `    - { name: ready, kind: http, url: "${gatewayUrl}${path}" }`,
        ].join("\n"),
      );
      const port = await freePort();
      const proc = procs.cli(
        `sidecar-${name}`,
        ["sidecar", "--config", config],
        {
          CLAWGUARD_WORKSPACE: ws,
          CLAWGUARD_STATE_DIR: state,
          CLAWGUARD_INGEST_TOKEN: c.tokens.main as string,
          CLAWGUARD_COLLECTOR_URL: c.url,
          CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
        },
        ws,
      );
      await waitUntilUp(`http://127.0.0.1:${port}/healthz`, proc);
      return { proc, state };
    };
    const fleetMain = async () => {
      const view = (await (await fetch(`${c.url}/v1/fleet`, { headers: read })).json()) as {
        agents: FleetAgent[];
      };
      return view.agents.find((a) => a.agent === "main");
    };
    const incidents = async () =>
      (
        (await (await fetch(`${c.url}/v1/incidents?agent=main&limit=50`, { headers: read })).json()) as {
          incidents: Incident[];
        }
      ).incidents;
    const until = async (what: string, ok: (a: FleetAgent) => boolean) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const agent = await fleetMain();
        if (agent && ok(agent)) return agent;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(agent)}`);
        await sleep(200);
      }
    };

    const a = await sidecar("a", "/ok");
    const b = await sidecar("b", "/fail");
    const ids = [a, b].map((s) => readlinkSync(join(s.state, "instance-id")));
    expect(ids[0]).not.toBe(ids[1]);

    // Until b's probe has failed too: before its first probe b reports no verdict, and the name
    // shows degraded (a healthy instance beside one not yet known) for a heartbeat or two.
    const duplicate = await until(
      "duplicate_name with b unhealthy",
      (x) => (x.reasons[0] ?? "").startsWith("duplicate_name:") && x.state !== "degraded",
    );
    expect(duplicate.state).toBe("unhealthy");
    expect(duplicate.instances?.map((i) => i.instance).sort()).toEqual([...ids].sort());
    expect(duplicate.instances?.find((i) => i.instance === ids[1])?.state).toBe("unhealthy");
    expect(duplicate.reasons.some((r) => r.startsWith(`instance ${ids[1]}: ready:`))).toBe(true);

    // Five more heartbeats from each: one incident, its timeline as it was (a probe's reason counts
    // its failures, "(N in a row)": the entry's last reasons change, not its entries).
    const entries = (list: Incident[]) => list.map((i) => i.timeline.map((e) => [e.kind, e.toState]));
    const before = await incidents();
    await sleep(5_000);
    const after = await incidents();
    expect(after).toHaveLength(1);
    expect(after[0]?.open).toBe(true);
    expect(entries(after)).toEqual(entries(before));
    const still = await fleetMain();
    expect([still?.state, still?.reasons[0]]).toEqual([duplicate.state, duplicate.reasons[0]]);

    // The events say which process sealed them.
    const audit = (await (
      await fetch(`${c.url}/v1/audit?agent=main&limit=100`, { headers: read })
    ).json()) as {
      events: { source: { instance?: string } }[];
    };
    const sealedBy = new Set(audit.events.map((e) => e.source.instance));
    expect(sealedBy.size).toBeGreaterThan(0);
    for (const id of sealedBy) expect(ids).toContain(id);

    // B stops for good: once it is stale, A alone is "main" again, healthy, and the incident resolves.
    await b.proc.kill("SIGTERM");
    const alone = await until("A alone", (x) => x.state === "healthy");
    expect(alone.instances).toBeUndefined();
    expect((await incidents()).filter((i) => i.open)).toHaveLength(0);

    // A restarted on its state dir is the same instance.
    await a.proc.kill("SIGTERM");
    const again = await sidecar("a", "/ok");
    expect(readlinkSync(join(again.state, "instance-id"))).toBe(ids[0]);
    await again.proc.kill("SIGTERM");
  });
});
