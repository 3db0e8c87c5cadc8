import { mkdirp } from "@clawguard/shared/fs-dirs";
import { lockDirectory } from "@clawguard/shared/fs-lock";
import { PGlite } from "@electric-sql/pglite";
import { type Db, type Queryable, StoreHealth, storeClosed } from "../db.ts";

const NAME = "the embedded store (PGlite)";

/**
 * The embedded default: PostgreSQL compiled to WebAssembly (PGlite), in-process, persisted in a data
 * directory. Single process: the directory is locked so a second collector cannot corrupt it.
 */
export async function createEmbeddedDb(dataDir: string): Promise<Db> {
  mkdirp(dataDir);
  const unlock = await lockDirectory(dataDir, "collector data directory");
  let db: PGlite;
  try {
    db = await PGlite.create(`${dataDir}/pgdata`);
  } catch (err) {
    unlock();
    throw err;
  }
  let closed: Promise<void> | undefined;
  const health = new StoreHealth(NAME);
  const query = async <R>(q: Queryable, sql: string, params?: unknown[]) => {
    try {
      return await q.query<R>(sql, params);
    } catch (err) {
      return health.fail(err);
    }
  };
  const exec = async (q: Queryable, sql: string) => {
    try {
      await q.exec(sql);
    } catch (err) {
      health.fail(err);
    }
  };
  const raw: Queryable = {
    query: (sql, params) => db.query(sql, params),
    exec: async (sql) => {
      await db.exec(sql);
    },
  };
  return {
    kind: "pglite",
    health,
    query: async (sql, params) => {
      if (closed) throw storeClosed(NAME);
      return query(raw, sql, params);
    },
    exec: async (sql) => {
      if (closed) throw storeClosed(NAME);
      return exec(raw, sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      if (closed) throw storeClosed(NAME);
      try {
        const result = await db.transaction((t) =>
          fn({
            query: (sql, params) => query(t as unknown as Queryable, sql, params),
            exec: async (sql) => exec(t as unknown as Queryable, sql),
          }),
        );
        health.wrote();
        return result;
      } catch (err) {
        return health.fail(err);
      }
    },
    // In process: a query under way cannot hang on a server, so there is nothing to cut.
    close: () => {
      closed ??= db.close().finally(unlock);
      return closed;
    },
  };
}
