import { Socket } from "node:net";
import { ClawguardError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import pg from "pg";
import { type Db, type Queryable, StoreHealth, storeClosed } from "../db.ts";

const CONNECTION_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "57P01",
  "57P03",
  "08006",
  "08001",
  "08003",
  "08004",
  "08P01",
  // idle_in_transaction_session_timeout: this replica was paused mid-transaction (see transaction).
  "25P03",
]);

/**
 * Connection trouble becomes `store.unavailable` (retryable, HTTP 503), and so does a write failure
 * (disk full, I/O: see StoreHealth); anything else is rethrown.
 */
function mapError(err: unknown, health: StoreHealth): never {
  // Mapped already (a statement of a transaction failed, then the transaction): said once.
  if (err instanceof ClawguardError) throw err;
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  if (
    (code && CONNECTION_ERRORS.has(code)) ||
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|not queryable|the database system is (starting up|shutting down|in recovery)/i.test(
      message,
    )
  ) {
    throw new ClawguardError("store.unavailable", `PostgreSQL is unavailable: ${message}`, {
      retryable: true,
      cause: err,
    });
  }
  return health.fail(err);
}

/**
 * How long a transaction of this collector may sit idle (waiting for its next statement) before
 * PostgreSQL ends the session. Between two statements there is only a little JavaScript: a gap this
 * long is a process that stopped, not one that is working.
 */
export const IDLE_IN_TRANSACTION_MS = 5000;

/**
 * `applicationName`: how this collector's sessions show in pg_stat_activity (which replica holds a
 * lock, or waits for one); an application_name in the URL wins.
 */
export function createPgDb(
  url: string,
  log: Logger,
  options: { max?: number; applicationName?: string } = {},
): Db {
  // Every connection's socket, so that a close can cut those still busy (a hung server answers
  // nothing, and ending the pool would wait for it).
  const sockets = new Set<Socket>();
  const pool = new pg.Pool({
    connectionString: url,
    application_name: options.applicationName,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    stream: () => {
      const socket = new Socket();
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      return socket;
    },
  });
  let closed: Promise<void> | undefined;
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on("error", (err) => log.warn("postgres: idle connection lost", { error: err.message }));
  // Nor a checked-out one: the pool only listens to its idle clients, and a client is handed out
  // with no listener at all, even between its ReadyForQuery and an error that follows in the same
  // packet (pg_terminate_backend, a restart, right after connecting). So every client gets its own
  // listener from birth; the query under way fails on its own and is mapped below.
  pool.on("connect", (client) => {
    client.on("error", (err) => log.debug("postgres: connection lost", { error: err.message }));
  });
  const health = new StoreHealth("PostgreSQL");
  const query = async <R>(client: Queryable, sql: string, params?: unknown[]) => {
    try {
      return await client.query<R>(sql, params);
    } catch (err) {
      return mapError(err, health);
    }
  };
  return {
    kind: "postgres",
    health,
    query: async (sql, params) => {
      if (closed) throw storeClosed("PostgreSQL");
      return query(pool as unknown as Queryable, sql, params);
    },
    exec: async (sql) => {
      if (closed) throw storeClosed("PostgreSQL");
      await query(pool as unknown as Queryable, sql);
    },
    async transaction(fn) {
      if (closed) throw storeClosed("PostgreSQL");
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        return mapError(err, health);
      }
      let broken = false;
      // A checked-out client is not the pool's to watch: its connection dying (a server restart,
      // pg_terminate_backend) emits 'error' on it, which would end the process with no listener.
      // The query under way fails too and is mapped below; here it is only marked broken.
      const onError = (err: Error) => {
        broken = true;
        log.warn("postgres: connection lost in a transaction", { error: err.message });
      };
      client.on("error", onError);
      try {
        // A replica paused mid-transaction (SIGSTOP, a frozen VM, a stuck event loop) would hold
        // its row locks for as long as it is paused, and every other replica's incident writes,
        // heartbeats and failover steps on those rows would wait behind it: the server ends such a
        // session after IDLE_IN_TRANSACTION_MS (its transaction rolled back, retried when it wakes).
        // SET LOCAL, not a startup parameter: PgBouncer refuses those it does not know.
        await client.query(
          `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${IDLE_IN_TRANSACTION_MS}`,
        );
        const tx: Queryable = {
          query: (sql, params) => query(client as unknown as Queryable, sql, params),
          exec: async (sql) => {
            await query(client as unknown as Queryable, sql);
          },
        };
        const result = await fn(tx);
        await client.query("COMMIT");
        health.wrote();
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        return mapError(err, health);
      } finally {
        client.off("error", onError);
        // A broken connection is closed, not returned to the pool; a late 'error' on it is ignored.
        if (broken) client.on("error", () => {});
        client.release(broken);
      }
    },
    close: (graceMs = 0) => {
      closed ??= new Promise<void>((done) => {
        // Ending the pool waits for the queries under way: those still running after the grace
        // (a PostgreSQL that hangs) have their connections cut, and fail as store.unavailable.
        const cut = setTimeout(() => {
          if (sockets.size > 0)
            log.warn("postgres: queries cut: the store is closing", { connections: sockets.size });
          for (const socket of sockets) socket.destroy();
        }, graceMs).unref();
        const ended = () => {
          clearTimeout(cut);
          done();
        };
        pool.end().then(ended, ended);
      });
      return closed;
    },
  };
}
