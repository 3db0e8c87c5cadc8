import { ClawguardError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { Actuator } from "./actuators.ts";
import { type ComposeOptions, composeActuator } from "./docker-compose.ts";
import { type ContainerSteps, containerSteps, dockerEngine, type Engine, type Ref } from "./docker-engine.ts";
import { fill, placeholders } from "./templates.ts";

export { COMPOSE_LABELS, type ComposeOptions } from "./docker-compose.ts";
export { DOCKER_API_VERSION, MIN_DOCKER_API_VERSION, negotiateVersion } from "./docker-engine.ts";

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
  const { socket, stopTimeoutSeconds, timeoutMs, compose, log } = options;
  if ((options.container === undefined) === (compose === undefined)) {
    throw new ClawguardError(
      "config.invalid",
      "docker actuator: expected exactly one of container and compose",
    );
  }
  const engine = dockerEngine(socket, timeoutMs);
  const steps = containerSteps(engine, stopTimeoutSeconds);
  return options.container !== undefined
    ? namedActuator(options.container, engine, steps)
    : composeActuator({ engine, compose: compose as ComposeOptions, log }, steps);
}

/** The container mode: one container per agent, named by `template`. */
function namedActuator(template: string, engine: Engine, steps: ContainerSteps): Actuator {
  const named = (action: string, agent: string, target: string | undefined): [string, Ref] => {
    const name = fill(template, placeholders(agent, target));
    const hint = name === agent ? "" : ` (controller.actuator.container ${JSON.stringify(template)})`;
    return [`docker ${action} ${name}${name === agent ? "" : ` (agent ${agent})`}`, { ref: name, hint }];
  };
  return {
    restart: async (agent, target) => {
      await steps.restart(...named("restart", agent, target));
    },
    stop: async (agent, target) => {
      await steps.stopConfirmed(...named("stop", agent, target));
    },
    start: async (agent, target) => {
      await steps.start(...named("start", agent, target));
    },
    close: () => engine.close(),
  };
}
