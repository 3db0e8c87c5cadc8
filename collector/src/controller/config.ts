import { int, secretRef } from "@clawguard/shared/config/fields";
import { z } from "zod";
import { needsTarget } from "./templates.ts";

const argv = z.array(z.string().min(1)).min(1);
/** The docker actuator's defaults; a docker field still at its default was not set on purpose. */
const DOCKER_DEFAULTS = { socket: "/var/run/docker.sock", stopTimeoutSeconds: 10 };

/** `controller`: failover for gateway groups (a primary and its standby on one state volume). */
export const controllerConfig = z
  .strictObject({
    groups: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected 1-63 chars of [A-Za-z0-9_.-]" }),
          primary: z.string().min(1),
          standby: z.string().min(1),
          /** Agent to the URL clients reach it on, e.g. { gateway: "http://gateway:18789" }. */
          targets: z.record(z.string(), z.url({ error: "expected an http(s) URL" })),
        }),
      )
      .default([]),
    /**
     * command: argv templates with {agent}, {target}, {port}, {token} (the fencing token), e.g.
     * ["docker", "restart", "{agent}"]; webhook: POST {action, agent, target, token} to url (bearer
     * token from a secret reference); docker: the Engine API on its unix socket, either one container
     * named by a template with {agent}, {target}, {port} (`container`), or the agent's Compose service
     * and its sidecar found by their Compose labels (`compose`). Which fields each kind needs:
     * actuatorProblems().
     */
    actuator: z
      .strictObject({
        kind: z.enum(["command", "webhook", "docker"]).default("command"),
        start: argv.optional(),
        stop: argv.optional(),
        restart: argv.optional(),
        url: z.url({ error: "expected an http(s) URL" }).optional(),
        token: secretRef.optional(),
        socket: z
          .string()
          .min(1, { error: "expected the path of the Docker Engine's socket" })
          .default(DOCKER_DEFAULTS.socket),
        container: z
          .string()
          .min(1, { error: 'expected a container name template, e.g. "{agent}"' })
          .optional(),
        compose: z
          .strictObject({
            /** Compose's own rule for project names. */
            project: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, {
              error:
                "expected the Compose project's name (lowercase letters, digits, - and _, starting with a letter or digit): `name:` in the compose file, or what `docker compose ls` shows",
            }),
            sidecarSuffix: z
              .string()
              .regex(/^[A-Za-z0-9_.-]{1,63}$/, { error: "expected 1-63 chars of [A-Za-z0-9_.-]" })
              .default("-clawguard"),
          })
          .optional(),
        stopTimeoutSeconds: int(0, 3600).default(DOCKER_DEFAULTS.stopTimeoutSeconds),
        timeoutMs: int(1000, 600_000).default(60_000),
      })
      .prefault({}),
    /**
     * Agents with no standby restarted in place the same way (backoff, budget): those named, and
     * every agent whose heartbeat role is one of `roles`; a gateway group's agents are not among
     * them. `targets`: where those that have one listen, for {target} and {port}.
     */
    restart: z
      .strictObject({
        agents: z.array(z.string().min(1)).default([]),
        roles: z.array(z.string().min(1)).default([]),
        targets: z.record(z.string(), z.url({ error: "expected an http(s) URL" })).default({}),
      })
      .prefault({}),
    tickMs: int(100, 60_000).default(1000),
    unhealthyForMs: int(0, 3_600_000).default(3000),
    restartBudget: int(0, 100).default(3),
    restartWindowMs: int(1000, 86_400_000).default(600_000),
    restartBackoffMs: int(0, 3_600_000).default(5000),
    minFailoverIntervalMs: int(0, 86_400_000).default(120_000),
    holdStaleShare: z.number().min(0).max(1).default(0.5),
    /** ...and at least this many agents are stale: one agent going stale is no sign of a partition. */
    holdMinStale: int(1, 1_000_000).default(2),
    downTimeoutMs: int(100, 600_000).default(15_000),
    readyTimeoutMs: int(100, 3_600_000).default(120_000),
    /** The lease: a replica that stops renewing for this long loses it. */
    leaseTtlMs: int(1000, 600_000).default(5000),
  })
  .prefault({});

export type ControllerConfig = z.output<typeof controllerConfig>;

/** Fields each actuator kind uses beyond kind and timeoutMs; a field set for another kind is a mistake. */
const ACTUATOR_FIELDS = {
  command: ["start", "stop", "restart"],
  webhook: ["url", "token"],
  docker: ["socket", "container", "compose", "stopTimeoutSeconds"],
} as const;

/** The placeholders a docker container template may use (there is no {token}: Docker cannot check one). */
const DOCKER_PLACEHOLDERS = new Set(["agent", "target", "port"]);

/**
 * What the schema alone cannot say about `controller.actuator`: the fields its kind needs, and
 * fields set that only another kind reads (a docker actuator given start commands would otherwise
 * ignore them in silence). Every problem, each with its path.
 */
export function actuatorProblems(actuator: ControllerConfig["actuator"]): string[] {
  const problems: string[] = [];
  const at = "controller.actuator";
  if (actuator.kind === "command") {
    if (!actuator.start) problems.push(`${at}.start: required for kind command (an argv template)`);
    if (!actuator.stop) problems.push(`${at}.stop: required for kind command (an argv template)`);
  } else if (actuator.kind === "webhook") {
    if (!actuator.url) problems.push(`${at}.url: required for kind webhook (where actions are POSTed)`);
  } else {
    if (actuator.container === undefined && actuator.compose === undefined)
      problems.push(
        `${at}: kind docker needs container or compose: container names each agent's one container by a template (e.g. "{agent}"); compose: {project} finds each agent's Compose service and its sidecar by their labels`,
      );
    if (actuator.container !== undefined && actuator.compose !== undefined)
      problems.push(
        `${at}: container and compose are both set: expected one (container names each agent's one container; compose finds each agent's Compose service and its sidecar)`,
      );
    for (const [, name] of (actuator.container ?? "").matchAll(/\{([^}]*)\}/g)) {
      if (!DOCKER_PLACEHOLDERS.has(name as string))
        problems.push(`${at}.container: unknown placeholder {${name}}: expected {agent}, {target} or {port}`);
    }
    const stopMs = actuator.stopTimeoutSeconds * 1000;
    if (actuator.timeoutMs <= stopMs)
      problems.push(
        `${at}.timeoutMs: expected more than stopTimeoutSeconds (${actuator.stopTimeoutSeconds} s = ${stopMs} ms), got ${actuator.timeoutMs}: the Engine takes up to that long to stop a container`,
      );
  }
  for (const [kind, fields] of Object.entries(ACTUATOR_FIELDS)) {
    if (kind === actuator.kind) continue;
    for (const field of fields) {
      const value = actuator[field];
      if (value !== undefined && value !== (DOCKER_DEFAULTS as Record<string, unknown>)[field])
        problems.push(`${at}.${field}: only used by kind ${kind}, but kind is ${actuator.kind}`);
    }
  }
  return problems;
}

/**
 * What `controller.restart` cannot be given: a named agent that a group already handles, or a
 * template that a restart in place fills with {target} or {port} when an agent it may restart has
 * no target (named without one in `targets`, or found by role: any agent of the role may be one).
 */
export function restartProblems(c: ControllerConfig): string[] {
  const problems: string[] = [];
  const at = "controller.restart";
  const grouped = new Map(
    c.groups.flatMap((g) => [[g.primary, g.name] as const, [g.standby, g.name] as const]),
  );
  for (const agent of c.restart.agents) {
    const group = grouped.get(agent);
    if (group !== undefined)
      problems.push(
        `${at}.agents: ${agent} is in gateway group ${group}, which restarts it and fails it over: expected only agents with no standby`,
      );
  }
  const untargeted = c.restart.agents.filter((a) => c.restart.targets[a] === undefined);
  if (untargeted.length === 0 && c.restart.roles.length === 0) return problems;
  const who = [
    ...(untargeted.length > 0
      ? [`${untargeted.join(", ")} (${at}.agents) have no target in ${at}.targets`]
      : []),
    ...(c.restart.roles.length > 0 ? [`agents found by ${at}.roles may have none`] : []),
  ].join(", and ");
  const a = c.actuator;
  const used: [string, string[] | string | undefined][] =
    a.kind === "command"
      ? a.restart
        ? [["restart", a.restart]]
        : [
            ["stop", a.stop],
            ["start", a.start],
          ]
      : a.kind === "docker"
        ? [["container", a.container]]
        : [];
  for (const [field, template] of used) {
    const parts = typeof template === "string" ? [template] : (template ?? []);
    if (parts.some(needsTarget))
      problems.push(
        `controller.actuator.${field}: uses {target} or {port} to restart agents in place, but ${who}: use {agent} only${a.kind === "command" && !a.restart ? " (or set controller.actuator.restart)" : ""}, or name every such agent in ${at}.agents with a target`,
      );
  }
  return problems;
}

/**
 * The lease is renewed every tick: a tick longer than half the lease's lifetime lets it lapse
 * between renewals on a busy replica, and leadership would flap between replicas.
 */
export function leaseProblems(c: ControllerConfig): string[] {
  return c.tickMs * 2 > c.leaseTtlMs
    ? [
        `controller.tickMs: ${c.tickMs} ms, expected at most half of controller.leaseTtlMs (${c.leaseTtlMs} ms): the lease is renewed every tick`,
      ]
    : [];
}
