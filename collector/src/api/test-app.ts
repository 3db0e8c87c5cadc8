import { silentLogger } from "@clawguard/shared/log";
import { Fleet } from "../fleet/index.ts";
import type { Db } from "../store/db.ts";
import { IncidentStore } from "../store/incident-store.ts";
import { MemoryLiveness } from "../store/liveness/memory.ts";
import { type ApiDeps, createCollectorApp } from "./app.ts";

/**
 * Test-only: the collector's API over `deps.store`, with an in-process fleet on `db` and
 * generous limits; tests give what they check (tokens, seal keys, limits).
 */
export function testCollectorApp(
  db: Db,
  deps: Pick<ApiDeps, "store" | "ingestTokens" | "readTokens"> & Partial<ApiDeps>,
) {
  return createCollectorApp({
    fleet: new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: new IncidentStore(db),
      staleFactor: 3,
      log: silentLogger,
    }),
    bodyLimitBytes: 16 * 1024 * 1024,
    blobLimitBytes: 1024 * 1024,
    maxBatchEvents: 10_000,
    log: silentLogger,
    ...deps,
  });
}
