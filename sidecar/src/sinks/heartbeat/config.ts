import { bool, int } from "@clawguard/shared/config/fields";
import { z } from "zod";

export const heartbeatConfig = z
  .strictObject({
    enabled: bool.default(true),
    /** The collector marks the agent stale after a few missed intervals. */
    intervalMs: int(1000, 3_600_000).default(10_000),
  })
  .prefault({});
