import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import PG from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { until } from "../support/drill.ts";
import {
  type PrivatePostgres,
  privatePostgresMissing,
  startPrivatePostgres,
} from "../support/private-stores.ts";
import { freePort, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * A collector started while its PostgreSQL is down (a restart of both, compose starting them
 * together) waits for it (up to a minute), saying so, instead of exiting; a wrong password or
 * database name still fails at once. One paused inside its migrations' transaction (a frozen VM)
 * has that session ended by the server (idle_in_transaction_session_timeout) and tries again when
 * it wakes, instead of exiting.
 */
const missing = privatePostgresMissing();
const procs = new Processes();
const dir = tempDir("clawguard-store-wait-");
let pg: PrivatePostgres | undefined;
afterAll(async () => {
  await procs.cleanup();
  await pg?.destroy();
  dir.cleanup();
});

/** `clawguard collector` on the PostgreSQL at `url`, listening on a port of its own. */
async function startCollector(name: string, url: string) {
  writeFileSync(join(dir.path, "tokens"), `main ${randomBytes(16).toString("hex")}\n`);
  const port = await freePort();
  const collector = procs.cli(
    name,
    ["collector"],
    {
      DATABASE_URL: url,
      CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
      CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
      CLAWGUARD_READ_TOKEN: randomBytes(16).toString("hex"),
    },
    dir.path,
  );
  return { collector, readyz: `http://127.0.0.1:${port}/readyz` };
}

describe.skipIf(missing !== undefined)("the collector and a PostgreSQL not up yet", () => {
  it("waits for it and becomes ready once it is up", { timeout: 120_000 }, async () => {
    pg = await startPrivatePostgres();
    await pg.stopImmediate();
    const { collector, readyz } = await startCollector("collector", pg.url);
    await new Promise((r) => setTimeout(r, 3000));
    expect(collector.child.exitCode, collector.output()).toBeNull(); // it exited within 2 s before
    expect(collector.output()).toMatch(/PostgreSQL is not reachable yet; waiting for it/);
    await pg.start();
    await waitUntilUp(readyz, collector, 60_000);
  });
});

/** The migrations' advisory lock (collector/src/store/migrations.ts LOCK_KEY, "claw"). */
const MIGRATION_LOCK = 0x636c6177;

describe.skipIf(!(await postgresAvailable()))("the collector paused inside its migrations", () => {
  it("has its session ended by the server, and on waking migrates again and becomes ready", {
    timeout: 60_000,
  }, async () => {
    const db = await createTestDatabase();
    // The migrations wait for this lock inside their transaction: the collector is stopped there.
    const holder = new PG.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
      const { collector, readyz } = await startCollector("collector-paused", db.url);
      await until(
        "the collector waiting for the lock",
        async () =>
          (
            await holder.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'clawguard-collector %' AND wait_event_type = 'Lock'",
            )
          ).rowCount === 1,
      );
      process.kill(collector.pid, "SIGSTOP");
      await holder.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
      await new Promise((r) => setTimeout(r, 6500));
      process.kill(collector.pid, "SIGCONT");
      await waitUntilUp(readyz, collector, 30_000);
      expect(collector.output()).toMatch(/idle-in-transaction timeout|not queryable/);
      await collector.kill("SIGTERM");
    } finally {
      await holder.end();
      await db.drop();
    }
  });
});
