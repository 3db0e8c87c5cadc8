import { bool, int } from "@clawguard/shared/config/fields";
import { z } from "zod";

export const heartbeatConfig = z
  .strictObject({
    enabled: bool.default(true),
    /**
     * The collector marks the agent stale after fleet.staleFactor (3) intervals: 15 s, so an agent
     * gone whole (its sidecar with it) is "gateway down" within 30 s too (15 s, the collector's sweep
     * 1 s and its evaluation 5 s).
     */
    intervalMs: int(1000, 3_600_000).default(5_000),
    /** This clock further than this from the collector's (measured on each heartbeat) is flagged in /readyz. */
    maxClockSkewMs: int(1000, 86_400_000).default(30_000),
  })
  .prefault({});
