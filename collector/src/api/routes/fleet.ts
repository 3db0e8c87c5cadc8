import { ClawguardError } from "@clawguard/shared/errors";
import { queryInt, readJson } from "@clawguard/shared/http/body";
import { errorResponse } from "@clawguard/shared/http/on-error";
import type { Context, Hono, Next } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HEARTBEAT_MAX_BYTES, validateHeartbeat } from "../../fleet/heartbeat.ts";
import type { ApiDeps } from "../app.ts";
import { agentParam } from "../params.ts";

function openParam(c: Context): boolean | undefined {
  const open = c.req.query("open");
  if (open === undefined || open === "") return undefined;
  if (open !== "true" && open !== "false")
    throw new ClawguardError(
      "input.invalid",
      `open: expected true or false, got ${JSON.stringify(open.slice(0, 40))}`,
    );
  return open === "true";
}

/**
 * POST /v1/heartbeats (the sidecar's token; its own agent only) -> 200 {ok: true}.
 * GET /v1/fleet (read token): every agent ever heard from, and config drift per role.
 * GET /v1/incidents?agent=&open=&limit=&cursor= (read token): newest first, each with its timeline.
 */
export function fleetRoutes(app: Hono, deps: ApiDeps): void {
  const ingestOnly = async (c: Context, next: Next) => {
    deps.ingestTokens.authenticate(c);
    await next();
  };
  const readOnly = async (c: Context, next: Next) => {
    deps.readTokens.authenticate(c);
    await next();
  };
  const limit = bodyLimit({
    maxSize: HEARTBEAT_MAX_BYTES,
    onError: (c) =>
      errorResponse(c, 413, "input.too_large", `heartbeat body over ${HEARTBEAT_MAX_BYTES} bytes`),
  });

  app.post("/v1/heartbeats", ingestOnly, limit, async (c) => {
    // The collector's clock as the heartbeat arrived; with the answer's, the sidecar measures its
    // offset both ways (NTP-style) and reports it in its next heartbeat.
    const received = Date.now();
    const agent = deps.ingestTokens.authenticate(c);
    const checked = validateHeartbeat(await readJson(c));
    if (!checked.ok) {
      throw new ClawguardError(
        "input.invalid",
        `heartbeat has ${checked.errors.length} problem(s): ${checked.errors.join("; ")}`,
        { details: { errors: checked.errors } },
      );
    }
    if (checked.value.agent !== agent) {
      throw new ClawguardError(
        "auth.forbidden",
        `agent: this token may only send heartbeats of agent ${JSON.stringify(agent)}, got ${JSON.stringify(checked.value.agent)}`,
      );
    }
    await deps.fleet.heartbeat(checked.value);
    return c.json({
      ok: true,
      clock: { received: new Date(received).toISOString(), sent: new Date().toISOString() },
    });
  });

  app.get("/v1/fleet", readOnly, async (c) => c.json(await deps.fleet.view()));

  app.get("/v1/incidents", readOnly, async (c) => {
    const page = await deps.fleet.incidents.list({
      agent: agentParam(c),
      open: openParam(c),
      cursor: c.req.query("cursor") || undefined,
      limit: Math.max(1, queryInt(c, "limit", 50, 500)),
    });
    return c.json(page);
  });
}
