import { ClawguardError, describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { Actuator } from "./actuators.ts";
import { type ContainerSteps, type Engine, parseJson, type Ref, type Step } from "./docker-engine.ts";

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

/** One entry of GET /containers/json, as much of it as is used. */
interface Listed {
  id: string;
  name: string;
  /** created, running, paused, restarting, removing, exited or dead. */
  state: string;
}

/** What every compose step works with. */
interface Pod {
  engine: Engine;
  compose: ComposeOptions;
  log: Logger;
}

/**
 * The compose mode of the Docker actuator (see dockerActuator): the agent and its sidecar, found by
 * their Compose labels at every action, handled together.
 */
export function composeActuator(pod: Pod, steps: ContainerSteps): Actuator {
  const both = async (action: string, agent: string) => ({
    found: await agentOf(pod, action, agent),
    sidecar: await sidecarOf(pod, action, agent),
  });
  const onAgent = (action: string, agent: string, found: Listed): [string, Ref] => [
    `docker ${action} ${found.name}${found.name === agent ? "" : ` (agent ${agent})`}`,
    ref(pod, found, agent),
  ];
  return {
    restart: async (agent) => {
      const { found, sidecar } = await both("restart", agent);
      await steps.restart(...onAgent("restart", agent, found));
      await onSidecar(pod, "restart", agent, sidecar, steps.restart);
    },
    stop: async (agent) => {
      const { found, sidecar } = await both("stop", agent);
      await onSidecar(pod, "stop", agent, sidecar, steps.stop);
      await steps.stopConfirmed(...onAgent("stop", agent, found));
    },
    start: async (agent) => {
      const { found, sidecar } = await both("start", agent);
      await steps.start(...onAgent("start", agent, found));
      // A sidecar that kept running while its agent was down is in the agent's old namespace.
      const rejoin = sidecar?.state === "running" || sidecar?.state === "restarting";
      await onSidecar(
        pod,
        rejoin ? "restart" : "start",
        agent,
        sidecar,
        rejoin ? steps.restart : steps.start,
      );
    },
    restartSidecar: async (agent) => {
      const sidecar = await sidecarOf(pod, "restart", agent);
      if (!sidecar)
        throw new Error(
          `no sidecar container ${agent}${pod.compose.sidecarSuffix} in project ${pod.compose.project}`,
        );
      const service = `${agent}${pod.compose.sidecarSuffix}`;
      // Started when it is not running (it joins the agent's namespace, which is still there).
      const running = sidecar.state === "running" || sidecar.state === "restarting";
      await (running ? steps.restart : steps.start)(
        `docker ${running ? "restart" : "start"} ${sidecar.name} (sidecar of ${agent})`,
        ref(pod, sidecar, service),
      );
    },
    close: () => pod.engine.close(),
  };
}

const where = ({ compose }: Pod, service: string) =>
  `Compose service ${JSON.stringify(service)} in project ${JSON.stringify(compose.project)}`;

const ref = (pod: Pod, found: Listed, service: string): Ref => ({
  ref: found.id,
  hint: ` (${found.name}, ${where(pod, service)}: removed since it was listed)`,
});

/** The containers of one Compose service in the project, stopped ones included, one-off ones not. */
async function list({ engine, compose }: Pod, what: string, service: string): Promise<Listed[]> {
  const filters = JSON.stringify({
    label: [
      `${COMPOSE_LABELS.project}=${compose.project}`,
      `${COMPOSE_LABELS.service}=${service}`,
      `${COMPOSE_LABELS.oneoff}=False`,
    ],
  });
  const { text } = await engine.call(
    what,
    "GET",
    `/containers/json?all=true&filters=${encodeURIComponent(filters)}`,
  );
  const listed = parseJson(text);
  if (!Array.isArray(listed)) {
    throw new ClawguardError(
      "upstream.unavailable",
      `${what}: the Docker Engine's container list is not a JSON array: ${text.trim().slice(0, 200)}`,
      { retryable: true, details: { socket: engine.socket } },
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
}

/** The agent's container: exactly one, or the step fails naming what it found. */
async function agentOf(pod: Pod, action: string, agent: string): Promise<Listed> {
  const { project, sidecarSuffix } = pod.compose;
  const what = `docker ${action} ${agent}`;
  const found = await list(pod, what, agent);
  if (found.length === 1) return found[0] as Listed;
  const details = {
    socket: pod.engine.socket,
    project,
    service: agent,
    containers: found.map((f) => f.name),
  };
  if (found.length === 0) {
    throw new ClawguardError(
      "upstream.rejected",
      `${what}: no container of ${where(pod, agent)} (stopped ones included): expected one. ` +
        "A service that was never started has none (a standby in a profile): create it without starting it, " +
        `e.g. docker compose -p ${project} --profile <its profile> create ${agent} ${agent}${sidecarSuffix}`,
      { details },
    );
  }
  throw new ClawguardError(
    "upstream.rejected",
    `${what}: ${found.length} containers of ${where(pod, agent)} (${found.map((f) => f.name).join(", ")}): ` +
      "expected one (scale 1): the controller does not pick one of several",
    { details },
  );
}

/** The sidecar's container, or undefined (warned) when there is not exactly one. */
async function sidecarOf(pod: Pod, action: string, agent: string): Promise<Listed | undefined> {
  const service = `${agent}${pod.compose.sidecarSuffix}`;
  const fields = { action, agent, project: pod.compose.project, service };
  let found: Listed[];
  try {
    found = await list(pod, `docker ${action} ${service} (sidecar of ${agent})`, service);
  } catch (err) {
    pod.log.warn("cannot list the sidecar's container: acting on the agent alone", {
      ...fields,
      error: describeError(err),
    });
    return undefined;
  }
  if (found.length === 1) return found[0];
  pod.log.warn(
    found.length === 0
      ? "no sidecar container: acting on the agent alone; it is not heard from (no heartbeats, no probes) until its sidecar runs"
      : "several sidecar containers: acting on the agent alone (expected one)",
    { ...fields, containers: found.map((f) => f.name) },
  );
  return undefined;
}

/** A step on the sidecar: a failure is warned about, never the step's. */
async function onSidecar(
  pod: Pod,
  action: string,
  agent: string,
  sidecar: Listed | undefined,
  step: Step,
): Promise<void> {
  if (!sidecar) return;
  const service = `${agent}${pod.compose.sidecarSuffix}`;
  try {
    await step(`docker ${action} ${sidecar.name} (sidecar of ${agent})`, ref(pod, sidecar, service));
  } catch (err) {
    pod.log.warn(`the sidecar's ${action} failed: the agent's goes on`, {
      action,
      agent,
      project: pod.compose.project,
      service,
      container: sidecar.name,
      error: describeError(err),
    });
  }
}
