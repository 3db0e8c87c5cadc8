import { ClawguardError } from "@clawguard/shared/errors";
import { queryInt } from "@clawguard/shared/http/body";
import type { Hono } from "hono";
import type { ApiDeps } from "../app.ts";
import { agentParam, clockParam, textParam, timeParam } from "../params.ts";

/** GET /v1/audit (filtered, cursor-paged) and GET /v1/audit/verify. Read token. */
export function auditRoutes(app: Hono, deps: ApiDeps): void {
  app.use("/v1/audit", async (c, next) => {
    deps.readTokens.authenticate(c);
    await next();
  });
  app.use("/v1/audit/*", async (c, next) => {
    deps.readTokens.authenticate(c);
    await next();
  });

  app.get("/v1/audit", async (c) => {
    const type = c.req.query("type");
    if (type !== undefined && type !== "" && !/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/.test(type)) {
      throw new ClawguardError(
        "input.invalid",
        `type: expected a dotted type or prefix such as exec.completed or exec.*, got ${JSON.stringify(type.slice(0, 64))}`,
      );
    }
    const page = await deps.store.query({
      agent: agentParam(c),
      session: textParam(c, "session", 256),
      type: type || undefined,
      clock: clockParam(c),
      since: timeParam(c, "since"),
      until: timeParam(c, "until"),
      cursor: c.req.query("cursor") || undefined,
      limit: Math.max(1, queryInt(c, "limit", 100, 1000)),
    });
    return c.json(page);
  });

  app.get("/v1/audit/verify", async (c) => {
    const agent = agentParam(c);
    const agents = agent ? [agent] : await deps.store.agents();
    const results = [];
    for (const name of agents) results.push(await deps.store.verify(name));
    return c.json({ ok: results.every((r) => r.ok), agents: results });
  });
}
