import { silentLogger } from "@clawguard/shared/log";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
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
  {
    name: "PostgreSQL",
    skip: !pgUp,
    open: async () => {
      const test = await createTestDatabase();
      const replicas: Db[] = [];
      return {
        db: createPgDb(test.url, silentLogger),
        replica: () => {
          const db = createPgDb(test.url, silentLogger);
          replicas.push(db);
          return db;
        },
        done: async () => {
          await Promise.all(replicas.map((db) => db.close()));
          await test.drop();
        },
      };
    },
  },
];
