import { isClawguardError } from "@clawguard/shared/errors";
import { describe, expect, it } from "vitest";
import { IDLE_IN_TRANSACTION_MS } from "./pg/index.ts";
import { storeBackends } from "./test-backends.ts";

/** Closing a store: what a stopping collector relies on, on every backend. */
describe.each(storeBackends)("Db.close ($name)", ({ name, skip, open }) => {
  it.skipIf(skip)(
    "takes no more work: each call fails as store.unavailable at once; closes twice",
    async () => {
      const { db, done } = await open();
      try {
        await db.query("SELECT 1");
        await db.close();
        await db.close();
        const calls = [db.query("SELECT 1"), db.exec("SELECT 1"), db.transaction(async () => 1)];
        for (const call of calls) {
          const err = await call.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(isClawguardError(err, "store.unavailable"), String(err)).toBe(true);
        }
      } finally {
        await done();
      }
    },
  );

  it.skipIf(skip || !name.startsWith("PostgreSQL"))(
    "cuts a query still running after the grace (a hung server): close resolves and the query fails as store.unavailable",
    async () => {
      const { db, done } = await open();
      try {
        // Far longer than the test may take: only the cut ends it.
        const sleeping = db.query("SELECT pg_sleep(60)").then(
          () => undefined,
          (e: unknown) => e,
        );
        await new Promise((r) => setTimeout(r, 100));
        await db.close(50);
        const err = await sleeping;
        expect(isClawguardError(err, "store.unavailable"), String(err)).toBe(true);
      } finally {
        await done();
      }
    },
  );
});

/**
 * A replica paused mid-transaction (SIGSTOP, a frozen VM) sends nothing: to the server its session
 * is idle in a transaction, holding its row locks. Here the pause is the transaction's callback
 * waiting; test/e2e/redis-faults.test.ts pauses a real collector with SIGSTOP.
 */
describe.each(storeBackends.filter((b) => b.name !== "embedded PGlite"))(
  "Db.transaction ($name)",
  ({ skip, open }) => {
    it.skipIf(skip)(
      "a transaction left idle by a paused replica is ended by the server: the other replica's write waits at most IDLE_IN_TRANSACTION_MS, the paused one fails as store.unavailable",
      { timeout: IDLE_IN_TRANSACTION_MS * 3 },
      async () => {
        const { db, replica, done } = await open();
        try {
          await db.exec("CREATE TABLE held (k text PRIMARY KEY, v text)");
          await db.query("INSERT INTO held VALUES ('row', 'before')");
          const { promise: holding, resolve: locked } = Promise.withResolvers<void>();
          const paused = db
            .transaction(async (tx) => {
              await tx.query("UPDATE held SET v = 'paused' WHERE k = 'row'");
              locked();
              await new Promise((r) => setTimeout(r, IDLE_IN_TRANSACTION_MS + 2000));
              await tx.query("SELECT 1");
            })
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          await holding;
          const other = replica();
          const started = Date.now();
          await other.transaction((tx) => tx.query("UPDATE held SET v = 'other' WHERE k = 'row'"));
          const waited = Date.now() - started;
          expect(waited).toBeGreaterThan(IDLE_IN_TRANSACTION_MS - 500);
          expect(waited).toBeLessThan(IDLE_IN_TRANSACTION_MS + 1500);
          const err = await paused;
          expect(isClawguardError(err, "store.unavailable"), String(err)).toBe(true);
          // Said once, not once per layer (the statement, then the transaction).
          expect((err as Error).message).not.toMatch(/unavailable: PostgreSQL is unavailable/);
          // Rolled back: the other's value stands, and the paused replica's pool works again.
          const { rows } = await db.query<{ v: string }>("SELECT v FROM held WHERE k = 'row'");
          expect(rows).toEqual([{ v: "other" }]);
        } finally {
          await db.close();
          await done();
        }
      },
    );
  },
);
