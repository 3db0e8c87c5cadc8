import { ClawguardError, describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import { Agent, request } from "undici";
import type { Actuator } from "./actuators.ts";
import { fill, placeholders } from "./templates.ts";

/**
 * The newest Engine API version the actuator asks for. Like Docker's own clients it negotiates: the
 * Engine's `GET /_ping` names its newest (header API-Version) and the lower of the two prefixes every
 * path. 1.44 suits Docker 29 and later (which refuse anything below it); Debian 12's Engine 20.10
 * speaks 1.41 and gets 1.41. The calls used here (list, inspect, start, stop, restart) are the same
 * in all of them, down to MIN_DOCKER_API_VERSION.
 */
export const DOCKER_API_VERSION = "1.44";
export const MIN_DOCKER_API_VERSION = "1.25";

const versionNumber = (v: string): number => {
  const [major = "0", minor = "0"] = v.split(".");
  return Number(major) * 1000 + Number(minor);
};

/** The version to use with an Engine whose newest is `engine` (undefined: it did not say). */
export function negotiateVersion(engine: string | undefined): string {
  if (engine === undefined || !/^\d+\.\d+$/.test(engine)) return DOCKER_API_VERSION;
  return versionNumber(engine) < versionNumber(DOCKER_API_VERSION) ? engine : DOCKER_API_VERSION;
}

/** The labels Compose puts on every container it creates; a `docker compose run` one is oneoff "True". */
export const COMPOSE_LABELS = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  oneoff: "com.docker.compose.oneoff",
} as const;

export interface ComposeOptions {
  /** The Compose project: `name:` in the file, `-p`, COMPOSE_PROJECT_NAME, or the directory's name. */
  project: string;
  /** An agent's sidecar is the service `<agent><sidecarSuffix>` (what `clawguard inject` writes). */
  sidecarSuffix: string;
}

export interface DockerActuatorOptions {
  /** The Engine's API socket, e.g. /var/run/docker.sock. */
  socket: string;
  /** Names the agent's one container, a template with {agent}, {target}, {port}. Or `compose`, not both. */
  container?: string | undefined;
  /** Finds the agent's container and its sidecar's by their Compose labels. Or `container`, not both. */
  compose?: ComposeOptions | undefined;
  /** How long the Engine waits after SIGTERM before it kills the container (stop and restart). */
  stopTimeoutSeconds: number;
  /** Per Engine call; a stop or restart takes up to stopTimeoutSeconds of it. */
  timeoutMs: number;
  /** Where compose mode reports a sidecar it could not find, start or stop (the agent's step goes on). */
  log: Logger;
}

/** A container as a step addresses it: `ref` goes into the path; `hint` follows it in a 404's message. */
interface Ref {
  ref: string;
  hint: string;
}

/** One entry of GET /containers/json, as much of it as is used. */
interface Listed {
  id: string;
  name: string;
  /** created, running, paused, restarting, removing, exited or dead. */
  state: string;
}

/**
 * Actions as Docker Engine API calls over its unix socket. Two ways to find the containers:
 *
 * - `container`: one container per agent, named by a template (`docker run --name`, or Compose's
 *   `container_name`): restart, stop (confirmed by inspecting it afterwards) and start it.
 * - `compose`: the agent is a Compose service with its sidecar `<agent><sidecarSuffix>` sharing its
 *   network namespace (`network_mode: service:<agent>`), a pod. Both containers are found by their
 *   Compose labels at every action (a recreated container has a new id and maybe a new name), and
 *   handled together: start the agent, then its sidecar (it joins the agent's namespace, so the agent
 *   must run first; a sidecar still running from before is restarted instead, as it sits in a
 *   namespace that is gone); stop the sidecar, then the agent (confirmed by inspection); restart the
 *   agent, then the sidecar (to rejoin the agent's new namespace: Docker does not move it there).
 *   The agent must be exactly one container; the sidecar is the agent's eyes, not the service, so
 *   a sidecar that is missing or fails only warns: a failover must not leave the group with no
 *   gateway at all because a sidecar could not start.
 *
 * The fencing token is not passed on: the Engine has nothing that could check it. The controller
 * checks that it still holds the lease before each step instead, and its route writes are fenced,
 * so a former leader's late stop or start cannot repoint clients.
 */
export function dockerActuator(options: DockerActuatorOptions): Actuator {
  const { socket, stopTimeoutSeconds: t, timeoutMs, compose, log } = options;
  if ((options.container === undefined) === (compose === undefined)) {
    throw new ClawguardError(
      "config.invalid",
      "docker actuator: expected exactly one of container and compose",
    );
  }
  const dispatcher = new Agent({ connect: { socketPath: socket }, keepAliveTimeout: 10_000 });
  /** The negotiated version, once an Engine answered; asked again after a failure. */
  let version: string | undefined;
  const negotiate = async (): Promise<string> => {
    if (version) return version;
    const response = await request("http://docker/_ping", {
      method: "GET",
      dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.text();
    const header = response.headers["api-version"];
    const engine = Array.isArray(header) ? header[0] : header;
    if (engine && versionNumber(engine) < versionNumber(MIN_DOCKER_API_VERSION)) {
      throw new ClawguardError(
        "upstream.rejected",
        `the Docker Engine at unix socket ${socket} speaks API ${engine}; expected ${MIN_DOCKER_API_VERSION} or newer (Docker 1.13 or newer)`,
        { details: { socket } },
      );
    }
    version = negotiateVersion(engine);
    return version;
  };

  /** One Engine call; 2xx and 304 are answered with the body, anything else throws. */
  const call = async (what: string, method: "GET" | "POST", path: string, container?: Ref) => {
    const details = { socket, ...(container ? { container: container.ref } : {}) };
    let status: number;
    let text: string;
    try {
      // The host is not used for a unix socket; the Engine ignores it.
      const url = `http://docker/v${await negotiate()}${path}`;
      const response = await request(url, { method, dispatcher, signal: AbortSignal.timeout(timeoutMs) });
      status = response.statusCode;
      text = await response.body.text();
    } catch (err) {
      if (err instanceof ClawguardError) throw err;
      const timedOut = (err as Error).name === "TimeoutError" || (err as Error).name === "AbortError";
      throw new ClawguardError(
        "upstream.unavailable",
        timedOut
          ? `${what}: the Docker Engine at unix socket ${socket} did not answer within ${timeoutMs} ms`
          : `${what}: cannot reach the Docker Engine at unix socket ${socket} (${(err as Error).message}): ` +
              "expected the Engine's API socket there, mounted into this container and readable by this process",
        { cause: err, retryable: true, details },
      );
    }
    if ((status >= 200 && status < 300) || status === 304) return { status, text };
    const message = engineMessage(text);
    if (status === 404 && container) {
      throw new ClawguardError(
        "upstream.rejected",
        `${what}: no such container ${JSON.stringify(container.ref)}${container.hint}` +
          (message ? `: the Engine says "${message}"` : ""),
        { details: { ...details, status } },
      );
    }
    throw new ClawguardError(
      status >= 500 ? "upstream.unavailable" : "upstream.rejected",
      `${what}: the Docker Engine answered HTTP ${status}: ${message || "(no message)"}`,
      { retryable: status >= 500, details: { ...details, status } },
    );
  };

  const path = (c: Ref, action: string) => `/containers/${encodeURIComponent(c.ref)}${action}`;
  const restart = (what: string, c: Ref) => call(what, "POST", path(c, `/restart?t=${t}`), c);
  const start = (what: string, c: Ref) => call(what, "POST", path(c, "/start"), c);
  const stop = (what: string, c: Ref) => call(what, "POST", path(c, `/stop?t=${t}`), c);
  /** Fencing must not rest on the Engine's word alone: stop, then look. */
  const stopConfirmed = async (what: string, c: Ref) => {
    await stop(what, c);
    let inspected: { status: number; text: string };
    try {
      inspected = await call(what, "GET", path(c, "/json"), c);
    } catch (err) {
      // A container removed on stop (--rm) is down too.
      if (err instanceof ClawguardError && err.details?.status === 404) return;
      throw err;
    }
    const state = parseJson(inspected.text) as { State?: { Running?: boolean; Status?: string } } | undefined;
    if (state?.State?.Running !== false) {
      throw new ClawguardError(
        "upstream.rejected",
        `${what}: the Engine accepted the stop but ` +
          (state?.State?.Running === true
            ? "the container is still running"
            : "its inspection does not show the container stopped") +
          ` (State.Running ${String(state?.State?.Running)}, State.Status ${JSON.stringify(state?.State?.Status ?? null)}): expected State.Running false`,
        { details: { socket, container: c.ref } },
      );
    }
  };
  const close = () => dispatcher.close().catch(() => {});

  if (options.container !== undefined) {
    const template = options.container;
    const named = (action: string, agent: string, target: string | undefined) => {
      const name = fill(template, placeholders(agent, target));
      const hint = name === agent ? "" : ` (controller.actuator.container ${JSON.stringify(template)})`;
      return {
        what: `docker ${action} ${name}${name === agent ? "" : ` (agent ${agent})`}`,
        c: { ref: name, hint },
      };
    };
    return {
      restart: async (agent, target) => {
        const { what, c } = named("restart", agent, target);
        await restart(what, c);
      },
      stop: async (agent, target) => {
        const { what, c } = named("stop", agent, target);
        await stopConfirmed(what, c);
      },
      start: async (agent, target) => {
        const { what, c } = named("start", agent, target);
        await start(what, c);
      },
      close,
    };
  }

  const { project, sidecarSuffix } = compose as ComposeOptions;

  /** The containers of one Compose service in the project, stopped ones included, one-off ones not. */
  const list = async (what: string, service: string): Promise<Listed[]> => {
    const filters = JSON.stringify({
      label: [
        `${COMPOSE_LABELS.project}=${project}`,
        `${COMPOSE_LABELS.service}=${service}`,
        `${COMPOSE_LABELS.oneoff}=False`,
      ],
    });
    const { text } = await call(
      what,
      "GET",
      `/containers/json?all=true&filters=${encodeURIComponent(filters)}`,
    );
    const listed = parseJson(text);
    if (!Array.isArray(listed)) {
      throw new ClawguardError(
        "upstream.unavailable",
        `${what}: the Docker Engine's container list is not a JSON array: ${text.trim().slice(0, 200)}`,
        { retryable: true, details: { socket } },
      );
    }
    return listed
      .map((entry: { Id?: unknown; Names?: unknown; State?: unknown }) => {
        const id = String(entry.Id);
        const names = Array.isArray(entry.Names) ? entry.Names : [];
        const name = typeof names[0] === "string" ? names[0].replace(/^\//, "") : id;
        return { id, name, state: typeof entry.State === "string" ? entry.State : "" };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  };
  const where = (service: string) =>
    `Compose service ${JSON.stringify(service)} in project ${JSON.stringify(project)}`;
  const ref = (found: Listed, service: string): Ref => ({
    ref: found.id,
    hint: ` (${found.name}, ${where(service)}: removed since it was listed)`,
  });

  /** The agent's container: exactly one, or the step fails naming what it found. */
  const agentOf = async (action: string, agent: string): Promise<Listed> => {
    const what = `docker ${action} ${agent}`;
    const found = await list(what, agent);
    if (found.length === 1) return found[0] as Listed;
    const details = { socket, project, service: agent, containers: found.map((f) => f.name) };
    if (found.length === 0) {
      throw new ClawguardError(
        "upstream.rejected",
        `${what}: no container of ${where(agent)} (stopped ones included): expected one. ` +
          "A service that was never started has none (a standby in a profile): create it without starting it, " +
          `e.g. docker compose -p ${project} --profile <its profile> create ${agent} ${agent}${sidecarSuffix}`,
        { details },
      );
    }
    throw new ClawguardError(
      "upstream.rejected",
      `${what}: ${found.length} containers of ${where(agent)} (${found.map((f) => f.name).join(", ")}): ` +
        "expected one (scale 1): the controller does not pick one of several",
      { details },
    );
  };

  /** The sidecar's container, or undefined (warned) when there is not exactly one. */
  const sidecarOf = async (action: string, agent: string): Promise<Listed | undefined> => {
    const service = `${agent}${sidecarSuffix}`;
    const fields = { action, agent, project, service };
    let found: Listed[];
    try {
      found = await list(`docker ${action} ${service} (sidecar of ${agent})`, service);
    } catch (err) {
      log.warn("cannot list the sidecar's container: acting on the agent alone", {
        ...fields,
        error: describeError(err),
      });
      return undefined;
    }
    if (found.length === 1) return found[0];
    log.warn(
      found.length === 0
        ? "no sidecar container: acting on the agent alone; it is not heard from (no heartbeats, no probes) until its sidecar runs"
        : "several sidecar containers: acting on the agent alone (expected one)",
      { ...fields, containers: found.map((f) => f.name) },
    );
    return undefined;
  };

  /** A step on the sidecar: a failure is warned about, never the step's. */
  const onSidecar = async (
    action: string,
    agent: string,
    sidecar: Listed | undefined,
    step: typeof start,
  ) => {
    if (!sidecar) return;
    const service = `${agent}${sidecarSuffix}`;
    try {
      await step(`docker ${action} ${sidecar.name} (sidecar of ${agent})`, ref(sidecar, service));
    } catch (err) {
      log.warn(`the sidecar's ${action} failed: the agent's goes on`, {
        action,
        agent,
        project,
        service,
        container: sidecar.name,
        error: describeError(err),
      });
    }
  };
  const onAgent = (action: string, agent: string, found: Listed) =>
    `docker ${action} ${found.name}${found.name === agent ? "" : ` (agent ${agent})`}`;

  return {
    restart: async (agent) => {
      const found = await agentOf("restart", agent);
      const sidecar = await sidecarOf("restart", agent);
      await restart(onAgent("restart", agent, found), ref(found, agent));
      await onSidecar("restart", agent, sidecar, restart);
    },
    stop: async (agent) => {
      const found = await agentOf("stop", agent);
      const sidecar = await sidecarOf("stop", agent);
      await onSidecar("stop", agent, sidecar, stop);
      await stopConfirmed(onAgent("stop", agent, found), ref(found, agent));
    },
    start: async (agent) => {
      const found = await agentOf("start", agent);
      const sidecar = await sidecarOf("start", agent);
      await start(onAgent("start", agent, found), ref(found, agent));
      // A sidecar that kept running while its agent was down is in the agent's old namespace.
      const rejoin = sidecar?.state === "running" || sidecar?.state === "restarting";
      await onSidecar(rejoin ? "restart" : "start", agent, sidecar, rejoin ? restart : start);
    },
    close,
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
