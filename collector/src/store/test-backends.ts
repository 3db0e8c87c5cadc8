import { silentLogger } from "@clawguard/shared/log";
import {
  createTestDatabase,
  missing,
  pgBouncerMissing,
  postgresAvailable,
  startPgBouncer,
  tempDir,
} from "@clawguard/shared/testing";
import type { Db } from "./db.ts";
import { createEmbeddedDb } from "./embedded/index.ts";
import { createPgDb } from "./pg/index.ts";

/**
 * Test-only: the backends every store contract suite runs on, the embedded default (PGlite) and
 * real PostgreSQL (skipped when unreachable, outside CI). Never imported by production code.
 */
export interface Backend {
  name: string;
  skip: boolean;
  open: () => Promise<{
    db: Db;
    /** Another collector replica's connection to the same database (PGlite: the same one). */
    replica: () => Db;
    done: () => Promise<void>;
  }>;
}

const pgUp = await postgresAvailable();

export const backends: Backend[] = [
  {
    name: "embedded PGlite",
    skip: false,
    open: async () => {
      const dir = tempDir("clawguard-pglite-");
      const db = await createEmbeddedDb(dir.path);
      return { db, replica: () => db, done: async () => dir.cleanup() };
    },
  },
  { name: "PostgreSQL", skip: !pgUp, open: () => openPostgres() },
];

/**
 * A fresh database on the test server, reached directly or through `via` (a pooler in front of
 * it: its URL for the database, and how to stop it); `done` closes the replicas and drops it.
 */
async function openPostgres(via?: (url: string) => Promise<{ url: string; stop: () => Promise<void> }>) {
  const test = await createTestDatabase();
  const pooler = await via?.(test.url);
  const url = pooler?.url ?? test.url;
  const replicas: Db[] = [];
  return {
    db: createPgDb(url, silentLogger),
    replica: () => {
      const db = createPgDb(url, silentLogger);
      replicas.push(db);
      return db;
    },
    done: async () => {
      await Promise.all(replicas.map((db) => db.close()));
      await pooler?.stop();
      await test.drop();
    },
  };
}

const noBouncer = pgUp ? pgBouncerMissing() : undefined;
const bouncerUp = pgUp && (noBouncer === undefined || missing("PgBouncer", "this machine", noBouncer));

/**
 * PostgreSQL behind a PgBouncer of the suite's own in transaction pooling, as many deployments
 * run it: the store keeps no session state across transactions and sends no startup parameter
 * PgBouncer refuses. Skipped without Debian's pgbouncer (.ci/run installs it: in CI a missing one
 * fails the run).
 */
export const pgBouncer: Backend = {
  name: "PostgreSQL via PgBouncer (transaction pooling)",
  skip: !bouncerUp,
  open: () => openPostgres(startPgBouncer),
};

/** The store contract suites run on these: both backends, and PostgreSQL through a pooler. */
export const storeBackends: Backend[] = [...backends, pgBouncer];
