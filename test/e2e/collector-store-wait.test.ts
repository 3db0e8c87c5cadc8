import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import {
  type PrivatePostgres,
  privatePostgresMissing,
  startPrivatePostgres,
} from "../support/private-stores.ts";
import { freePort, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * A collector started while its PostgreSQL is down (a restart of both, compose starting them
 * together) waits for it (up to a minute), saying so, instead of exiting; a wrong password or
 * database name still fails at once.
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

describe.skipIf(missing !== undefined)("the collector and a PostgreSQL not up yet", () => {
  it("waits for it and becomes ready once it is up", { timeout: 120_000 }, async () => {
    pg = await startPrivatePostgres();
    await pg.stopImmediate();
    writeFileSync(join(dir.path, "tokens"), `main ${randomBytes(16).toString("hex")}\n`);
    const port = await freePort();
    const collector = procs.cli(
      "collector",
      ["collector"],
      {
        DATABASE_URL: pg.url,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
        CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
        CLAWGUARD_READ_TOKEN: randomBytes(16).toString("hex"),
      },
      dir.path,
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(collector.child.exitCode, collector.output()).toBeNull(); // it exited within 2 s before
    expect(collector.output()).toMatch(/PostgreSQL is not reachable yet; waiting for it/);
    await pg.start();
    await waitUntilUp(`http://127.0.0.1:${port}/readyz`, collector, 60_000);
  });
});
