import { mkdirSync } from "node:fs";
import { lockDirectory } from "@clawguard/shared/fs-lock";
import { PGlite } from "@electric-sql/pglite";
import type { Db, Queryable } from "../db.ts";

/**
 * The embedded default: PostgreSQL compiled to WebAssembly (PGlite), in-process, persisted in a data
 * directory. Single process: the directory is locked so a second collector cannot corrupt it.
 */
export async function createEmbeddedDb(dataDir: string): Promise<Db> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDirectory(dataDir, "collector data directory");
  let db: PGlite;
  try {
    db = await PGlite.create(`${dataDir}/pgdata`);
  } catch (err) {
    unlock();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    kind: "pglite",
    query: <R>(sql: string, params?: unknown[]) => db.query<R>(sql, params),
    exec: async (sql: string) => {
      await db.exec(sql);
    },
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      db.transaction((tx) =>
        fn({
          query: <R>(sql: string, params?: unknown[]) => tx.query<R>(sql, params),
          exec: async (sql: string) => {
            await tx.exec(sql);
          },
        }),
      ),
    close: () => {
      closed ??= db.close().finally(unlock);
      return closed;
    },
  };
}
