import { bytes, int, secretRef } from "@clawguard/shared/config/fields";
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
    /**
     * The key every event is sealed with as it enters the spool (HMAC-SHA256 over its hash), so the
     * collector can tell an edited spool: default from CLAWGUARD_SEAL_KEY or CLAWGUARD_SEAL_KEY_FILE.
     * The sidecar's own secret: never a file the agent's container can read (not in the workspace).
     */
    sealKey: secretRef.optional(),
    /** The key's id, sent with every seal: a new id with each new key (the collector keeps the previous one). */
    sealKeyId: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: "expected a key id of 1-32 chars [A-Za-z0-9_.-]" })
      .default("k1"),
  })
  .prefault({});
