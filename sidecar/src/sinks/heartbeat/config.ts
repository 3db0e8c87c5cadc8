import { bool, int } from "@clawguard/shared/config/fields";
import { z } from "zod";

export const heartbeatConfig = z
  .strictObject({
    enabled: bool.default(true),
    /** The collector marks the agent stale after a few missed intervals. */
    intervalMs: int(1000, 3_600_000).default(10_000),
    /** This clock further than this from the collector's (measured on each heartbeat) is flagged in /readyz. */
    maxClockSkewMs: int(1000, 86_400_000).default(30_000),
  })
  .prefault({});
