import { bytes, int } from "@clawguard/shared/config/fields";
import { z } from "zod";
import { MAX_EXEC_BYTES, MAX_EXEC_TIMEOUT_MS } from "./limits.ts";

export { MAX_EXEC_BYTES, MAX_EXEC_TIMEOUT_MS } from "./limits.ts";

export const execGuardConfig = z
  .strictObject({
    /** Output at or under this size passes through unchanged; above it, it is spilled and previewed. */
    maxBytes: bytes(1, MAX_EXEC_BYTES).default(51_200),
    previewBytes: bytes(512, 1024 * 1024).default(8 * 1024),
    timeoutMs: int(1, MAX_EXEC_TIMEOUT_MS).default(30 * 60 * 1000),
    killGraceMs: int(0, 600_000).default(5000),
    policy: z
      .strictObject({
        default: z.enum(["allow", "deny"]).default("allow"),
        allow: z.array(z.string().min(1)).default([]),
        deny: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    /**
     * When the exec.started event cannot be written (disk full, quota, read-only): refuse the command
     * (exit 126, nothing runs unaudited) or run it anyway and say so on stderr.
     */
    onAuditFailure: z.enum(["refuse", "run"]).default("refuse"),
    /** The spill store (exec output and LLM tool outputs): the sidecar deletes the oldest beyond these. */
    spill: z
      .strictObject({
        maxBytes: bytes(1024 * 1024).default(1024 * 1024 * 1024),
        retentionMs: int(60_000, 3650 * 24 * 3600 * 1000).default(7 * 24 * 3600 * 1000),
        /** How often the sidecar checks (and at its start). */
        sweepIntervalMs: int(1000, 24 * 3600 * 1000).default(60_000),
      })
      .prefault({}),
  })
  .prefault({});

export type ExecGuardConfig = z.output<typeof execGuardConfig>;
