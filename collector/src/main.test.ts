import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { loadCollectorConfig } from "./config.ts";
import { checkConfig, startCollector } from "./main.ts";
import { deleteKeys, livenessBackends, TEST_REDIS } from "./store/liveness/test-backends.ts";

/** The composition root: embedded by default, Redis when configured, and no start without it. */

const INGEST = "i".repeat(40);
const READ = "r".repeat(40);
const dir = tempDir("clawguard-collector-main-");
const tokens = join(dir.path, "sidecar-tokens");
writeFileSync(tokens, `main ${INGEST}\n`);
const baseEnv = {
  CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
  CLAWGUARD_COLLECTOR_DATA_DIR: join(dir.path, "data"),
  CLAWGUARD_INGEST_TOKENS_FILE: tokens,
  CLAWGUARD_READ_TOKEN: READ,
  CLAWGUARD_FLEET_SWEEP_MS: "100",
};
const start = (env: Record<string, string> = {}) => {
  const all = { ...baseEnv, ...env };
  return startCollector(loadCollectorConfig(undefined, all, dir.path), all, silentLogger);
};
const heartbeat = (url: string) =>
  fetch(`${url}/v1/heartbeats`, {
    method: "POST",
    headers: { authorization: `Bearer ${INGEST}`, "content-type": "application/json" },
    body: JSON.stringify({
      agent: "main",
      role: "gateway",
      host: "h1",
      state: "degraded",
      reasons: ["provider openai: 401"],
      probes: [],
      versions: {},
      configFingerprint: "c".repeat(64),
      intervalMs: 1000,
      time: new Date().toISOString(),
    }),
  });
const fleetOf = async (url: string) =>
  (await (await fetch(`${url}/v1/fleet`, { headers: { authorization: `Bearer ${READ}` } })).json()) as {
    agents: { agent: string; stale: boolean }[];
  };

afterAll(() => dir.cleanup());

describe("collector start", () => {
  it("runs embedded without Redis, and marks an agent stale once its heartbeats stop", async () => {
    const collector = await start();
    try {
      expect(collector.fleet.liveness.kind).toBe("memory");
      expect((await heartbeat(collector.url)).status).toBe(200);
      expect((await fleetOf(collector.url)).agents).toMatchObject([{ agent: "main", stale: false }]);
      // Stale after 3 x 1 s; the sweep runs every 100 ms.
      await new Promise((r) => setTimeout(r, 3300));
      expect((await fleetOf(collector.url)).agents).toMatchObject([{ agent: "main", stale: true }]);
      const { incidents } = await collector.fleet.incidents.list({ agent: "main", limit: 10 });
      expect(incidents[0]?.timeline.map((e) => e.toState)).toEqual(["degraded", "stale"]);
    } finally {
      await collector.stop();
      await collector.stop();
    }
  });

  it("refuses to start when a configured Redis cannot be reached, and leaves nothing open", async () => {
    await expect(start({ REDIS_URL: "redis://:hunter2@127.0.0.1:1" })).rejects.toThrow(
      /^redis\.url: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
    );
    await expect(start({ REDIS_URL: "http://127.0.0.1:6379" })).rejects.toThrow(
      /redis\.url: expected a redis:\/\/ or rediss:\/\/ URL/,
    );
    // The embedded store's directory lock was released: it starts again.
    const again = await start();
    await again.stop();
  });

  it.skipIf(livenessBackends[1]?.skip)("keeps liveness in Redis when REDIS_URL is set", async () => {
    const prefix = `clawguard-test-${randomBytes(6).toString("hex")}:`;
    const collector = await start({ REDIS_URL: TEST_REDIS, CLAWGUARD_REDIS_KEY_PREFIX: prefix });
    try {
      expect(collector.fleet.liveness.kind).toBe("redis");
      expect((await heartbeat(collector.url)).status).toBe(200);
      expect((await fleetOf(collector.url)).agents).toMatchObject([{ agent: "main" }]);
    } finally {
      await collector.stop();
      expect(await deleteKeys(prefix)).toBeGreaterThan(0);
    }
  });

  it("lists a bad controller and missing tokens in one answer, as --check does, before opening anything", () => {
    const config = loadCollectorConfig(undefined, {}, "/");
    const bad = {
      ...config,
      controller: {
        ...config.controller,
        tickMs: 4000,
        leaseTtlMs: 5000,
        groups: [{ name: "gw", primary: "gw", standby: "gw-b", targets: { gw: "http://gw:18789" } }],
        actuator: { ...config.controller.actuator, kind: "webhook" as const, token: { env: "NO_SUCH" } },
      },
    };
    let message = "";
    try {
      checkConfig(bad, {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^collector config has 6 problems:/);
    for (const part of [
      "controller.groups[0].targets.gw-b: required",
      "controller.actuator.url",
      "controller.tickMs: 4000 ms",
      "NO_SUCH",
      "auth: no sidecar tokens",
      "auth.readToken: no read token",
    ])
      expect(message).toContain(part);
  });

  it("reads each agent's sealing keys (current and previous) and refuses short, doubled or a third key", () => {
    const keys = join(dir.path, "seal-keys");
    const key = (c: string) => c.repeat(32);
    writeFileSync(keys, `# agent keyId key\nmain k2 ${key("a")}\nmain k1 ${key("b")}\nsub1 k1 ${key("c")}\n`);
    const env = { ...baseEnv, CLAWGUARD_SEAL_KEYS_FILE: keys };
    const { seals } = checkConfig(loadCollectorConfig(undefined, env, dir.path), env);
    expect([...(seals.get("main")?.keys() ?? [])]).toEqual(["k2", "k1"]);
    expect(seals.get("sub1")?.get("k1")?.toString()).toBe(key("c"));
    writeFileSync(
      keys,
      `main k3 ${key("a")}\nmain k2 ${key("b")}\nmain k1 ${key("c")}\nmain k2 ${key("d")}\nsub1 k1 short\nnonsense\n`,
    );
    expect(() => checkConfig(loadCollectorConfig(undefined, env, dir.path), env)).toThrowError(
      /4 problems:(.|\n)*line 3: main has more than 2 sealing keys(.|\n)*line 4: key id "k2" of main given twice(.|\n)*line 5: expected a sealing key of 32\+ chars, got 5(.|\n)*line 6: expected "<agent> <key id> <key of 32\+ chars>"/,
    );
  });
});
