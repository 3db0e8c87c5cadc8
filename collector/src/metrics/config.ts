import { int } from "@clawguard/shared/config/fields";
import { z } from "zod";
import { DEFAULT_METRICS_LIMITS as D } from "./bound.ts";

/** GET /metrics: how many series it gives the fleet at most (see bound.ts), and how long a render is reused. */
export const metricsConfig = z
  .strictObject({
    /** Agents with series of their own (the first by name); the others are counted in clawguard_metrics_capped. */
    maxAgents: int(1, 100_000).default(D.maxAgents),
    /** An agent's provider/model pairs with labels of their own; the rest are added up as other/other. */
    llmSeriesPerAgent: int(1, 16).default(D.llmSeriesPerAgent),
    /** An agent's largest memory files with a series each. */
    memoryFilesPerAgent: int(0, 20).default(D.memoryFilesPerAgent),
    /** An agent's first probes with a series each. */
    probesPerAgent: int(0, 100).default(D.probesPerAgent),
    /** A render is served again to scrapes within this long (and shared by those that ask while it runs). */
    cacheMs: int(0, 60_000).default(1000),
  })
  .prefault({});
