import { spawn } from "node:child_process";
import { resolveSecret } from "@clawguard/shared/config/load";
import { ClawguardError } from "@clawguard/shared/errors";
import { Agent, request } from "undici";
import type { ControllerConfig } from "./config.ts";

/**
 * What the controller does to a gateway. Every call is made under a fencing token the leader still
 * holds (it checks the lease before each step) and carries that token, for actuators whose far end
 * can check it (a webhook's orchestrator can refuse a token older than one it has seen).
 */
export interface Actuator {
  restart(agent: string, target: string, token: number): Promise<void>;
  stop(agent: string, target: string, token: number): Promise<void>;
  start(agent: string, target: string, token: number): Promise<void>;
  /** Releases what the actuator holds open (connections); idempotent. */
  close?(): Promise<void>;
}

/** Fills `{name}` placeholders; an unknown placeholder is left as it is. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** The placeholders every actuator template has: {agent}, {target} and {port} (the target's). */
function placeholders(agent: string, target: string): Record<string, string> {
  return { agent, target, port: new URL(target).port };
}

/** Actions as argv templates: {agent}, {target}, {port}, {token} are filled in; exit 0 is success. */
export function commandActuator(
  templates: { start: string[]; stop: string[]; restart?: string[] | undefined },
  timeoutMs: number,
): Actuator {
  const run = (argv: string[], agent: string, target: string, token: number) =>
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
 * Actions as HTTP calls: POST `url` with `{action, agent, target, token}` (JSON; `token` is the
 * fencing token, the bearer token is the configured secret when given); any 2xx is success,
 * anything else fails the step. For orchestrators the collector cannot drive itself (a Nomad job, a
 * Kubernetes operator, a runbook service); one that remembers the highest token it has seen can
 * refuse a call from a former leader.
 */
export function webhookActuator(url: string, bearer: string | undefined, timeoutMs: number): Actuator {
  const call = async (action: string, agent: string, target: string, token: number) => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify({ action, agent, target, token }),
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
 * The Engine API version every path is prefixed with. 1.44 (Docker 25.0) is the one version both
 * Docker 25-28 (which accept 1.24 and up) and Docker 29 and later (which refuse anything below 1.44)
 * accept; Docker 24 and older (end of life) answer that it is too new. The calls used here have not
 * changed since long before it.
 */
export const DOCKER_API_VERSION = "1.44";

export interface DockerActuatorOptions {
  /** The Engine's API socket, e.g. /var/run/docker.sock. */
  socket: string;
  /** The container's name or id, a template with {agent}, {target}, {port}. */
  container: string;
  /** How long the Engine waits after SIGTERM before it kills the container (stop and restart). */
  stopTimeoutSeconds: number;
  /** Per Engine call; a stop or restart takes up to stopTimeoutSeconds of it. */
  timeoutMs: number;
}

/**
 * Actions as Docker Engine API calls over its unix socket: restart, stop and start the agent's
 * container; a stop is confirmed by inspecting the container afterwards.
 *
 * The fencing token is not passed on: the Engine has nothing that could check it. The controller
 * checks that it still holds the lease before each step instead, and its route writes are fenced,
 * so a former leader's late stop or start cannot repoint clients.
 */
export function dockerActuator(options: DockerActuatorOptions): Actuator {
  const { socket, stopTimeoutSeconds, timeoutMs } = options;
  const dispatcher = new Agent({ connect: { socketPath: socket }, keepAliveTimeout: 10_000 });

  /** One Engine call; 2xx and 304 are answered with the body, anything else throws. */
  const call = async (what: string, agent: string, name: string, method: "GET" | "POST", path: string) => {
    // The host is not used for a unix socket; the Engine ignores it.
    const url = `http://docker/v${DOCKER_API_VERSION}/containers/${encodeURIComponent(name)}${path}`;
    let status: number;
    let text: string;
    try {
      const response = await request(url, { method, dispatcher, signal: AbortSignal.timeout(timeoutMs) });
      status = response.statusCode;
      text = await response.body.text();
    } catch (err) {
      const timedOut = (err as Error).name === "TimeoutError" || (err as Error).name === "AbortError";
      throw new ClawguardError(
        "upstream.unavailable",
        timedOut
          ? `${what}: the Docker Engine at unix socket ${socket} did not answer within ${timeoutMs} ms`
          : `${what}: cannot reach the Docker Engine at unix socket ${socket} (${(err as Error).message}): ` +
              "expected the Engine's API socket there, mounted into this container and readable by this process",
        { cause: err, retryable: true, details: { socket, container: name } },
      );
    }
    if ((status >= 200 && status < 300) || status === 304) return { status, text };
    const message = engineMessage(text);
    if (status === 404) {
      throw new ClawguardError(
        "upstream.rejected",
        `${what}: no such container ${JSON.stringify(name)}` +
          (name === agent ? "" : ` (controller.actuator.container ${JSON.stringify(options.container)})`) +
          (message ? `: the Engine says "${message}"` : ""),
        { details: { socket, container: name, status } },
      );
    }
    throw new ClawguardError(
      status >= 500 ? "upstream.unavailable" : "upstream.rejected",
      `${what}: the Docker Engine answered HTTP ${status}: ${message || "(no message)"}`,
      { retryable: status >= 500, details: { socket, container: name, status } },
    );
  };

  const container = (agent: string, target: string) => fill(options.container, placeholders(agent, target));
  const label = (action: string, agent: string, name: string) =>
    `docker ${action} ${name}${name === agent ? "" : ` (agent ${agent})`}`;

  return {
    restart: async (agent, target) => {
      const name = container(agent, target);
      await call(label("restart", agent, name), agent, name, "POST", `/restart?t=${stopTimeoutSeconds}`);
    },
    stop: async (agent, target) => {
      const name = container(agent, target);
      const what = label("stop", agent, name);
      await call(what, agent, name, "POST", `/stop?t=${stopTimeoutSeconds}`);
      // Fencing must not rest on the Engine's word alone: look. A container removed on stop
      // (--rm) is down too.
      let inspected: { status: number; text: string };
      try {
        inspected = await call(what, agent, name, "GET", "/json");
      } catch (err) {
        if (err instanceof ClawguardError && err.details?.status === 404) return;
        throw err;
      }
      const state = parseJson(inspected.text) as
        | { State?: { Running?: boolean; Status?: string } }
        | undefined;
      if (state?.State?.Running !== false) {
        throw new ClawguardError(
          "upstream.rejected",
          `${what}: the Engine accepted the stop but ` +
            (state?.State?.Running === true
              ? "the container is still running"
              : "its inspection does not show the container stopped") +
            ` (State.Running ${String(state?.State?.Running)}, State.Status ${JSON.stringify(state?.State?.Status ?? null)}): expected State.Running false`,
          { details: { socket, container: name } },
        );
      }
    },
    start: async (agent, target) => {
      const name = container(agent, target);
      await call(label("start", agent, name), agent, name, "POST", "/start");
    },
    close: () => dispatcher.close().catch(() => {}),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The Engine's errors are `{"message": "..."}`; anything else is shown as it came, shortened. */
function engineMessage(text: string): string {
  const parsed = parseJson(text) as { message?: unknown } | undefined;
  if (typeof parsed?.message === "string") return parsed.message;
  return text.trim().slice(0, 300);
}

/** The actuator the config asks for. The config must have passed actuatorProblems(). */
export function createActuator(actuator: ControllerConfig["actuator"], env: NodeJS.ProcessEnv): Actuator {
  switch (actuator.kind) {
    case "docker":
      return dockerActuator({
        socket: actuator.socket,
        container: actuator.container,
        stopTimeoutSeconds: actuator.stopTimeoutSeconds,
        timeoutMs: actuator.timeoutMs,
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
