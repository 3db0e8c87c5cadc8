import { bytes, int } from "@clawguard/shared/config/fields";
import { z } from "zod";

export const spoolConfig = z
  .strictObject({
    /** Defaults to `<workspace>/.clawguard/agents/<agent>/spool`. */
    dir: z.string().min(1).optional(),
    maxBytes: bytes(1024 * 1024).default(256 * 1024 * 1024),
    segmentBytes: bytes(64 * 1024, 256 * 1024 * 1024).default(8 * 1024 * 1024),
    /** always: fsync before an append returns; interval: every fsyncIntervalMs; never: leave it to the OS. */
    fsync: z.enum(["always", "interval", "never"]).default("always"),
    fsyncIntervalMs: int(10, 60_000).default(1000),
  })
  .prefault({});
