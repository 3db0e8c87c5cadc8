import { ClawguardError } from "@clawguard/shared/errors";
import { MAX_YEAR, MIN_YEAR, queryTime, storableProblem } from "@clawguard/shared/events/bounds";
import { AGENT_PATTERN } from "@clawguard/shared/events/envelope";
import type { Context } from "hono";
import { COLLECTOR_AGENT } from "../store/audit-store.ts";

/** Query parameters the read routes share; each bad one is a 400 naming it. */

export function timeParam(c: Context, name: string): string | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  // A real date and time (no 30 February, no hour 24: Date.parse would roll them over).
  const time = queryTime(value);
  if ("problem" in time)
    throw new ClawguardError(
      "input.invalid",
      `${name}: ${time.problem} (in ${MIN_YEAR}..${MAX_YEAR}), got ${JSON.stringify(value.slice(0, 40))}`,
    );
  return time.iso;
}

/**
 * A free-text query parameter (a session id, a path) that goes to PostgreSQL: at most `max` chars,
 * no NUL, no lone surrogate; a 400 naming it otherwise.
 */
export function textParam(c: Context, name: string, max: number): string | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  const problem = value.length > max ? `more than ${max} chars` : storableProblem(value);
  if (problem)
    throw new ClawguardError(
      "input.invalid",
      `${name}: ${problem}, got ${JSON.stringify(value.slice(0, 40))}`,
    );
  return value;
}

export function agentParam(c: Context): string | undefined {
  const agent = c.req.query("agent");
  if (agent === undefined || agent === "") return undefined;
  if (agent !== COLLECTOR_AGENT && !AGENT_PATTERN.test(agent)) {
    throw new ClawguardError(
      "input.invalid",
      `agent: not an agent name: ${JSON.stringify(agent.slice(0, 64))}`,
    );
  }
  return agent;
}

/**
 * Which clock since/until/order use: "agent" (the default: the event's time, as the agent's clock
 * said) or "collector" (when the collector stored it). An agent whose clock is off shows under
 * the second where it belongs.
 */
export function clockParam(c: Context): "agent" | "collector" | undefined {
  const clock = c.req.query("clock");
  if (clock === undefined || clock === "") return undefined;
  if (clock !== "agent" && clock !== "collector")
    throw new ClawguardError(
      "input.invalid",
      `clock: expected agent (the events' own time, the default) or collector (when the collector stored them), got ${JSON.stringify(clock.slice(0, 40))}`,
    );
  return clock;
}
