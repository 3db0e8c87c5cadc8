import { bytes, int, listen, secretRef } from "@clawguard/shared/config/fields";
import { z } from "zod";

export const apiConfig = z
  .strictObject({
    /** Loopback by default: the agent reaches its sidecar over the shared network namespace. */
    listen: listen.default("127.0.0.1:18801"),
    /** Token for every /v1 call; default from CLAWGUARD_SIDECAR_TOKEN(_FILE), else generated at start. */
    token: secretRef.optional(),
    bodyLimitBytes: bytes(1024, 64 * 1024 * 1024).default(1024 * 1024),
    /**
     * /readyz says `disk_low` (degraded) when the workspace's or the state dir's filesystem has less
     * free than the smaller of these: 64 MiB on a big disk, 2 % of a small one.
     */
    diskLow: z
      .strictObject({
        minFreeBytes: bytes(0).default(64 * 1024 * 1024),
        minFreePercent: int(0, 100).default(2),
      })
      .prefault({}),
  })
  .prefault({});
