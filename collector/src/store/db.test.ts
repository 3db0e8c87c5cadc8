import { isClawguardError } from "@clawguard/shared/errors";
import { describe, expect, it } from "vitest";
import { backends } from "./test-backends.ts";

/** Closing a store: what a stopping collector relies on, on both backends. */
describe.each(backends)("Db.close ($name)", ({ name, skip, open }) => {
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

  it.skipIf(skip || name !== "PostgreSQL")(
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
