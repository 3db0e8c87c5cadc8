import { bytes, httpUrl, int, secretRef } from "@clawguard/shared/config/fields";
import { z } from "zod";

export const shipperConfig = z
  .strictObject({
    /** The collector's base URL. */
    url: httpUrl.default("http://127.0.0.1:18800"),
    /** This sidecar's ingest token; default from CLAWGUARD_INGEST_TOKEN or CLAWGUARD_INGEST_TOKEN_FILE. */
    token: secretRef.optional(),
    batchMaxEvents: int(1, 10_000).default(1000),
    batchMaxBytes: bytes(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
    timeoutMs: int(100, 600_000).default(10_000),
    backoffMinMs: int(1, 60_000).default(100),
    backoffMaxMs: int(1, 3_600_000).default(30_000),
  })
  .prefault({});
