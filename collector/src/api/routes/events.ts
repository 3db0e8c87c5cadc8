import { ClawguardError } from "@clawguard/shared/errors";
import { readJson } from "@clawguard/shared/http/body";
import type { Hono } from "hono";
import { ingestBatch } from "../../ingest.ts";
import type { ApiDeps } from "../app.ts";

/** POST /v1/events: a batch from one sidecar, authenticated by that sidecar's token. */
export function eventsRoutes(app: Hono, deps: ApiDeps): void {
  app.post("/v1/events", async (c) => {
    const agent = deps.ingestTokens.authenticate(c);
    const body = (await readJson(c)) as { events?: unknown };
    if (typeof body !== "object" || body === null || Array.isArray(body) || !Array.isArray(body.events)) {
      throw new ClawguardError("input.invalid", 'expected {"events": [ ... ]}');
    }
    const extra = Object.keys(body).filter((k) => k !== "events");
    if (extra.length > 0) throw new ClawguardError("input.invalid", `${extra.join(", ")}: unknown field`);
    if (body.events.length === 0 || body.events.length > deps.maxBatchEvents) {
      throw new ClawguardError(
        "input.invalid",
        `events: expected 1-${deps.maxBatchEvents} events, got ${body.events.length}`,
      );
    }
    const results = await ingestBatch(deps.store, agent, body.events, deps.sealKeys);
    const count = (status: string) => results.filter((r) => r.status === status).length;
    for (const result of ["accepted", "duplicate", "rejected"]) {
      const n = count(result);
      if (n > 0) deps.metrics?.ingestEvents.inc({ result }, n);
    }
    return c.json({
      accepted: count("accepted"),
      duplicate: count("duplicate"),
      rejected: count("rejected"),
      results,
    });
  });
}
