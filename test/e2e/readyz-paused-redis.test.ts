import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type PrivateRedis, startPrivateRedis } from "../support/private-stores.ts";
import { freePort, Processes, waitUntilUp } from "../support/processes.ts";

/** A paused Redis (SIGSTOP): the collector's /readyz says so within its second, it does not hang. */
const procs = new Processes();
const dir = tempDir("clawguard-readyz-redis-");
let redis: PrivateRedis | undefined;
afterAll(async () => {
  if (redis) process.kill(redis.pid(), "SIGCONT");
  await procs.cleanup();
  await redis?.destroy();
  dir.cleanup();
});

describe("/readyz with Redis paused", () => {
  it("answers 503 naming liveness within ~1 s, and ready again once Redis runs", {
    timeout: 90_000,
  }, async () => {
    redis = await startPrivateRedis();
    writeFileSync(join(dir.path, "tokens"), `main ${randomBytes(16).toString("hex")}\n`);
    const port = await freePort();
    const collector = procs.cli(
      "collector",
      ["collector"],
      {
        REDIS_URL: redis.url,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
        CLAWGUARD_COLLECTOR_DATA_DIR: join(dir.path, "data"),
        CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
        CLAWGUARD_READ_TOKEN: randomBytes(16).toString("hex"),
      },
      dir.path,
    );
    const ready = `http://127.0.0.1:${port}/readyz`;
    await waitUntilUp(ready, collector, 60_000);
    process.kill(redis.pid(), "SIGSTOP");
    const t = performance.now();
    const res = await fetch(ready, { signal: AbortSignal.timeout(4000) });
    const ms = performance.now() - t;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { failing: string[] }).failing).toContain("liveness");
    expect(ms).toBeLessThan(2500); // it took 5 s before
    process.kill(redis.pid(), "SIGCONT");
    await waitUntilUp(ready, collector, 20_000);
  });
});
