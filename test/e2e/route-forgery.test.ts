import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteKeys, redisAvailable, TEST_REDIS } from "../../collector/src/store/liveness/test-backends.ts";
import { redisCall, until } from "../support/drill.ts";
import { freePort, type Managed, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * A route forged in Redis, with processes: a collector (the controller leading, PostgreSQL, the
 * shared Redis under a prefix of its own) and `clawguard router --target ... --target ...` in front
 * of a group whose gateways answer their names (no sidecar reports: the primary is not heard from
 * yet, nothing is done to it). Someone who can write Redis
 * points the group at another host under a token far above any lease's and announces it. The
 * router refuses it (never serves the other host) and says so; the collector's leader replaces the
 * forged copy with the durable route and records it in the primary's incident (route-forged).
 */

const pgUp = await postgresAvailable();
const redisUp = await redisAvailable();

async function gateway(name: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === "/readyz") res.end('{"ready":true}');
    else res.end(name);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.skipIf(!pgUp || !redisUp)("a route forged in Redis (collector and router processes)", () => {
  const procs = new Processes();
  const dir = tempDir("clawguard-route-forgery-");
  const prefix = `clawguard-test-forgery-${randomBytes(4).toString("hex")}:`;
  const readToken = randomBytes(16).toString("hex");
  const servers: Server[] = [];
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let collector: Managed;
  let router: Managed;
  let collectorUrl: string;
  let routerUrl: string;
  const targets: Record<string, string> = {};
  let elsewhere: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    for (const name of ["gw", "gw-standby", "sub1"]) {
      const { server, url } = await gateway(name);
      servers.push(server);
      if (name === "sub1") elsewhere = url;
      else targets[name] = url;
    }
    const config = {
      fleet: { staleFactor: 3, sweepMs: 200 },
      controller: {
        groups: [{ name: "gw", primary: "gw", standby: "gw-standby", targets }],
        actuator: { kind: "command", start: ["true"], stop: ["true"], timeoutMs: 10_000 },
        tickMs: 200,
        unhealthyForMs: 500,
        leaseTtlMs: 2000,
      },
    };
    writeFileSync(join(dir.path, "collector.yaml"), JSON.stringify(config));
    writeFileSync(join(dir.path, "tokens"), `gw ${randomBytes(16).toString("hex")}\n`);
    const port = await freePort();
    collectorUrl = `http://127.0.0.1:${port}`;
    const redis = { REDIS_URL: TEST_REDIS, CLAWGUARD_REDIS_KEY_PREFIX: prefix };
    const logs = { CLAWGUARD_LOG_FORMAT: "json", CLAWGUARD_LOG_LEVEL: "info" };
    collector = procs.cli(
      "collector",
      ["collector", "--config", join(dir.path, "collector.yaml")],
      {
        ...redis,
        ...logs,
        DATABASE_URL: db.url,
        CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
        CLAWGUARD_READ_TOKEN: readToken,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
      },
      dir.path,
    );
    await waitUntilUp(`${collectorUrl}/readyz`, collector, 60_000);
    const routerPort = await freePort();
    routerUrl = `http://127.0.0.1:${routerPort}`;
    router = procs.cli(
      "router",
      [
        "router",
        "--group",
        "gw",
        ...Object.values(targets).flatMap((t) => ["--target", t]),
        "--listen",
        `127.0.0.1:${routerPort}`,
      ],
      { ...redis, ...logs },
      dir.path,
    );
  }, 120_000);

  afterAll(async () => {
    await procs.cleanup();
    for (const server of servers) server.close();
    await deleteKeys(prefix);
    await db?.drop();
    dir.cleanup();
  });

  const served = async () => {
    const response = await fetch(routerUrl, { signal: AbortSignal.timeout(1000) });
    return response.ok ? response.text() : undefined;
  };

  it("the router never serves the forged target; the leader replaces it and records it", {
    timeout: 60_000,
  }, async () => {
    await until(
      "the router serving the primary",
      async () => (await served().catch(() => "")) === "gw",
      30_000,
    );
    const key = `${prefix}{control}:fenced:route:gw`;
    const [legit] = await redisCall(TEST_REDIS, [["HGET", key, "token"]]);
    const forgedAt = Date.now();
    await redisCall(TEST_REDIS, [
      ["HSET", key, "value", JSON.stringify({ target: elsewhere }), "token", "999999999"],
      ["PUBLISH", `${prefix}{control}:routes`, "gw"],
    ]);
    // Every answer while the forged copy is in Redis, and until the leader has replaced it.
    const answers = new Set<string | undefined>();
    const replacedAt = await until(
      "the leader replacing the forged copy",
      async () => {
        answers.add(await served().catch(() => "unreachable"));
        const [token] = await redisCall(TEST_REDIS, [["HGET", key, "token"]]);
        return token === legit ? Date.now() : undefined;
      },
      30_000,
      20,
    );
    expect([...answers]).toEqual(["gw"]);
    expect(await redisCall(TEST_REDIS, [["HGET", key, "value"]])).toEqual([
      JSON.stringify({ target: targets.gw }),
    ]);
    await until("the router's refusal in its log", () => router.output().includes("route refused"), 10_000);
    const lines = router.output().split("\n");
    expect(lines.find((l) => l.includes("route refused"))).toContain(elsewhere);
    // One switch: from no route to the primary, at start.
    expect(lines.filter((l) => l.includes("route switched"))).toHaveLength(1);
    // Recorded just after the replacement, in the primary's incident.
    const timeline = await until(
      "route-forged in the primary's incident",
      async () => {
        const incidents = await fetch(`${collectorUrl}/v1/incidents?agent=gw`, {
          headers: { authorization: `Bearer ${readToken}` },
        });
        const text = JSON.stringify(await incidents.json());
        return text.includes('"route-forged"') ? text : undefined;
      },
      10_000,
      100,
    );
    expect(timeline).toContain("999999999");
    expect(collector.output()).toContain("forged route replaced");
    console.log(
      `[route-forgery] forged copy replaced by the leader ${replacedAt - forgedAt} ms after it was written`,
    );
  });
});
