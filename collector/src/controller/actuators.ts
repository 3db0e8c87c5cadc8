import { spawn } from "node:child_process";
import { resolveSecret } from "@clawguard/shared/config/load";
import type { Logger } from "@clawguard/shared/log";
import type { ControllerConfig } from "./config.ts";
import { dockerActuator } from "./docker-actuator.ts";
import { fill, placeholders } from "./templates.ts";

export {
  COMPOSE_LABELS,
  type ComposeOptions,
  DOCKER_API_VERSION,
  type DockerActuatorOptions,
  dockerActuator,
} from "./docker-actuator.ts";

/**
 * What the controller does to a gateway. Every call is made under a fencing token the leader still
 * holds (it checks the lease before each step) and carries that token, for actuators whose far end
 * can check it (a webhook's orchestrator can refuse a token older than one it has seen).
 */
export interface Actuator {
  /** `target` is undefined for an agent restarted in place that has none (a sub-agent, a bot). */
  restart(agent: string, target: string | undefined, token: number): Promise<void>;
  stop(agent: string, target: string | undefined, token: number): Promise<void>;
  start(agent: string, target: string | undefined, token: number): Promise<void>;
  /**
   * Restarts the agent's sidecar alone (it went silent while the agent still answers); none: the
   * actuator cannot (the controller holds and says so instead).
   */
  restartSidecar?(agent: string, target: string | undefined, token: number): Promise<void>;
  /** Releases what the actuator holds open (connections); idempotent. */
  close?(): Promise<void>;
}

/** Actions as argv templates: {agent}, {target}, {port}, {token} are filled in; exit 0 is success. */
export function commandActuator(
  templates: { start: string[]; stop: string[]; restart?: string[] | undefined },
  timeoutMs: number,
): Actuator {
  const run = (argv: string[], agent: string, target: string | undefined, token: number) =>
    new Promise<void>((resolve, reject) => {
      const values = { ...placeholders(agent, target), token: String(token) };
      const filled = argv.map((a) => fill(a, values));
      const child = spawn(filled[0] as string, filled.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output = (output + c.toString()).slice(-1000)));
      child.stderr.on("data", (c: Buffer) => (output = (output + c.toString()).slice(-1000)));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`${filled.join(" ")}: ${err.message}`));
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`${filled.join(" ")} exited ${code}: ${output.trim().slice(-300)}`));
      });
    });
  return {
    start: (agent, target, token) => run(templates.start, agent, target, token),
    stop: (agent, target, token) => run(templates.stop, agent, target, token),
    restart: async (agent, target, token) => {
      if (templates.restart) return run(templates.restart, agent, target, token);
      await run(templates.stop, agent, target, token);
      await run(templates.start, agent, target, token);
    },
  };
}

/**
 * Actions as HTTP calls: POST `url` with `{action, agent, target, token}` (JSON; `target` is null
 * for an agent without one; `token` is the
 * fencing token, the bearer token is the configured secret when given); any 2xx is success,
 * anything else fails the step. For orchestrators the collector cannot drive itself (a Nomad job, a
 * Kubernetes operator, a runbook service); one that remembers the highest token it has seen can
 * refuse a call from a former leader.
 */
export function webhookActuator(url: string, bearer: string | undefined, timeoutMs: number): Actuator {
  const call = async (action: string, agent: string, target: string | undefined, token: number) => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify({ action, agent, target: target ?? null, token }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok)
      throw new Error(`${action} ${agent}: webhook answered HTTP ${response.status}: ${text.slice(0, 300)}`);
  };
  return {
    start: (agent, target, token) => call("start", agent, target, token),
    stop: (agent, target, token) => call("stop", agent, target, token),
    restart: (agent, target, token) => call("restart", agent, target, token),
  };
}

/**
 * The actuator the config asks for. The config must have passed actuatorProblems(). `log` hears
 * what an actuator works around rather than fails on (docker's compose mode: a missing sidecar).
 */
export function createActuator(
  actuator: ControllerConfig["actuator"],
  env: NodeJS.ProcessEnv,
  log: Logger,
): Actuator {
  switch (actuator.kind) {
    case "docker":
      return dockerActuator({
        socket: actuator.socket,
        container: actuator.container,
        compose: actuator.compose,
        stopTimeoutSeconds: actuator.stopTimeoutSeconds,
        timeoutMs: actuator.timeoutMs,
        log,
      });
    case "webhook":
      return webhookActuator(
        actuator.url as string,
        resolveSecret(actuator.token, env, "controller.actuator.token"),
        actuator.timeoutMs,
      );
    case "command":
      return commandActuator(
        { start: actuator.start as string[], stop: actuator.stop as string[], restart: actuator.restart },
        actuator.timeoutMs,
      );
  }
}
