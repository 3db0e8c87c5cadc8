import { Document, Scalar, stringify } from "yaml";
import { agentVars, INBOX_DIR, INBOX_MOUNT, INBOX_VAR, inboxVolume, withAgentVars } from "./agent-env.ts";
import { type Agent, containerPorts, type Mount, splitColons, type Vars } from "./detect.ts";
import type { Upstream } from "./openclaw-config.ts";

export interface InjectOptions {
  /** The sidecar image. */
  image: string;
  /** The collector image (also runs the routers: the router is the collector package's). */
  collectorImage: string;
  postgresImage: string;
  redisImage: string;
  /** Where the secret files live, relative to the compose file. */
  secretsDir: string;
  /** What Compose interpolates with (the environment over `.env`), for the agents' ports. */
  vars?: Vars;
  /** An OTLP/HTTP endpoint the sidecars send their traces and metrics to (OTEL_EXPORTER_OTLP_ENDPOINT). */
  otelEndpoint?: string;
}

export const DEFAULTS: InjectOptions = {
  image: "clawguard/sidecar:0.1.0",
  collectorImage: "clawguard/collector:0.1.0",
  postgresImage: "postgres:17-alpine",
  redisImage: "redis:7-alpine",
  secretsDir: "./clawguard-secrets",
};

export const COLLECTOR = "clawguard-collector";
export const POSTGRES = "clawguard-postgres";
export const REDIS = "clawguard-redis";
/**
 * The network of clawguard's control plane: its Redis (the leader lease, the routes), the collector
 * and the routers, nothing else. Internal: no way out of it. The agents are never on it: an agent
 * that could write those keys could point a router (and the users' requests) anywhere, or hold the
 * lease forever so that no failover happens.
 */
export const CONTROL_NETWORK = "clawguard-control";
const REDIS_URL = `redis://${REDIS}:6379/0`;
export const BIN_VOLUME = "clawguard-bin";
export const PG_VOLUME = "clawguard-pgdata";
export const BIN_DIR = "/opt/clawguard/bin";
/** The sidecar's private state (its spool, its API token): a volume of its own, never the agent's. */
export const STATE_DIR = "/var/lib/clawguard";
export const stateVolume = (service: string): string => `clawguard-state-${service}`;
export const AGENT_MOUNT = `${BIN_VOLUME}:${BIN_DIR}:ro`;
export const STANDBY_PROFILE = "clawguard-standby";
export const INJECTED_LABEL = "clawguard.injected";
/** Where the sidecar finds the config inject writes for it (the providers' real URLs). */
export const SIDECAR_CONFIG_TARGET = "/etc/clawguard/sidecar.yaml";
export const SIDECAR_PORT = 18801;
export const COLLECTOR_PORT = 18800;
/** The collector's port on the host's loopback: 18800 unless CLAWGUARD_COLLECTOR_PORT says otherwise. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
export const COLLECTOR_HOST_PORT = "${CLAWGUARD_COLLECTOR_PORT:-18800}";
/** The top-level config holding the collector's config (its failover controller), with an HA gateway. */
export const COLLECTOR_CONFIG = "clawguard-collector";
export const COLLECTOR_CONFIG_TARGET = "/etc/clawguard/collector.yaml";
/** The Docker Engine's socket on the host, mounted at the same path (the docker actuator's default). */
export const DOCKER_SOCKET = "/var/run/docker.sock";
/**
 * The socket's group, for the collector's non-root user: Compose refuses to start without it,
 * saying what to set (the gid differs between hosts, so inject cannot write it).
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
export const DOCKER_GID = "${DOCKER_GID:?set DOCKER_GID to the group id of /var/run/docker.sock}";
/**
 * The Compose project, as Compose itself resolves it (-p, COMPOSE_PROJECT_NAME, name:, the
 * directory) and exposes it for interpolation; Compose refuses to start when it does not.
 */
export const PROJECT_INTERPOLATION =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
  "${COMPOSE_PROJECT_NAME:?set COMPOSE_PROJECT_NAME to the Compose project name}";
export const SIDECAR_SUFFIX = "-clawguard";

export const sidecarName = (agent: string): string => `${agent}${SIDECAR_SUFFIX}`;
export const standbyName = (gateway: string): string => `${gateway}-standby`;
export const routerName = (gateway: string): string => `${gateway}-router`;
export const ingestSecret = (agent: string): string => `clawguard-ingest-${agent}`;
/** The sidecar's key for sealing its events (the collector has it too, in clawguard-seal-keys). */
export const sealSecret = (agent: string): string => `clawguard-seal-${agent}`;
/** The top-level config holding an agent's sidecar config (shared by its standby's sidecar). */
export const sidecarConfigName = (agent: string): string => `clawguard-sidecar-${agent}`;

const LABELS = { [INJECTED_LABEL]: "true" };

/**
 * An HTTP GET of a loopback /healthz with the Node the image has anyway (no wget/curl needed). Each
 * check starts a Node: with 26 containers starting on 2 busy cores that took over 3 s, and three
 * such checks in a row marked healthy sidecars unhealthy (so `up --wait` failed); 10 s is slow
 * enough for a loaded host and still says a hung process within 30 s.
 */
function healthcheck(port: number): Record<string, unknown> {
  return {
    test: [
      "CMD",
      "node",
      "-e",
      `fetch('http://127.0.0.1:${port}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ],
    interval: "10s",
    timeout: "10s",
    retries: 3,
    start_period: "30s",
  };
}

/**
 * The agent's mount as the sidecar gets it: same source, target and options (`:Z`, `:cached`,
 * `nocopy`...); read-only when asked (`ro` in place of `rw`, or added).
 */
export function sidecarMount(m: Mount, readOnly: boolean): string | Record<string, unknown> {
  if (typeof m.entry === "string") {
    const parts = splitColons(m.entry);
    const options = (parts[2] ?? "").split(",").filter((o) => o !== "" && !(readOnly && o === "rw"));
    if (readOnly && !options.includes("ro")) options.unshift("ro");
    return `${m.source}:${m.target}${options.length > 0 ? `:${options.join(",")}` : ""}`;
  }
  const { read_only: readOnlyAsWritten, ...rest } = m.entry;
  return readOnly || readOnlyAsWritten === true ? { ...rest, read_only: true } : rest;
}

/** The mounts of an agent's sidecar: its workspace read-write, its state (when a mount of its own) read-only. */
function sidecarMounts(agent: Agent): (string | Record<string, unknown>)[] {
  const volumes = [sidecarMount(agent.workspace, false)];
  if (agent.state && agent.state !== agent.workspace) volumes.push(sidecarMount(agent.state, true));
  return volumes;
}

/** The service's `profiles`: a sidecar or router of an agent under profiles starts with it, not without. */
export function profilesOf(service: Record<string, unknown> | undefined): string[] {
  const p = service?.profiles;
  return Array.isArray(p) ? p.map(String) : [];
}

/**
 * The sidecar beside `service` (the agent, or its standby): its network namespace, its workspace
 * read-write (spills, .clawguard, decay), its state read-only, and the volume it publishes the
 * agent-side `clawguard` file into; `config` names the top-level config it reads as its config
 * file (CLAWGUARD_CONFIG), when inject wrote one.
 */
export function sidecarService(
  agent: Agent,
  service: string,
  options: InjectOptions,
  standby = false,
  config?: string,
  profiles: readonly string[] = [],
): Record<string, unknown> {
  const environment: Record<string, string> = {
    CLAWGUARD_AGENT: service,
    CLAWGUARD_ROLE: agent.role,
    CLAWGUARD_WORKSPACE: agent.workspaceDir,
    CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${SIDECAR_PORT}`,
    CLAWGUARD_COLLECTOR_URL: `http://${COLLECTOR}:${COLLECTOR_PORT}`,
    CLAWGUARD_INGEST_TOKEN_FILE: `/run/secrets/${ingestSecret(service)}`,
    CLAWGUARD_SEAL_KEY_FILE: `/run/secrets/${sealSecret(service)}`,
    CLAWGUARD_BIN_DIR: BIN_DIR,
    CLAWGUARD_STATE_DIR: STATE_DIR,
  };
  if (agent.state) environment.CLAWGUARD_LLM_OPENCLAW_CONFIG = `${agent.state.target}/openclaw.json`;
  if (config) environment.CLAWGUARD_CONFIG = SIDECAR_CONFIG_TARGET;
  environment[INBOX_VAR] = INBOX_DIR;
  if (options.otelEndpoint) environment.OTEL_EXPORTER_OTLP_ENDPOINT = options.otelEndpoint;
  const volumes = sidecarMounts(agent);
  volumes.push(
    `${BIN_VOLUME}:${BIN_DIR}`,
    `${stateVolume(service)}:${STATE_DIR}`,
    `${inboxVolume(service)}:${INBOX_MOUNT}`,
  );
  return {
    image: options.image,
    command: ["clawguard", "sidecar"],
    // The agent's user: the files it shares with its sidecar (openclaw.json, the inbox) are that user's.
    ...(agent.user !== undefined ? { user: agent.user } : {}),
    network_mode: `service:${service}`,
    depends_on: [service],
    restart: "unless-stopped",
    environment,
    volumes,
    secrets: [ingestSecret(service), sealSecret(service)],
    ...(config ? { configs: [{ source: config, target: SIDECAR_CONFIG_TARGET }] } : {}),
    healthcheck: healthcheck(SIDECAR_PORT),
    ...(standby ? { profiles: [STANDBY_PROFILE] } : profiles.length > 0 ? { profiles: [...profiles] } : {}),
    labels: LABELS,
  };
}

/** The gateway's twin on the same state and workspace; only started by failover (profile). */
export function standbyService(gateway: Agent, original: Record<string, unknown>): Record<string, unknown> {
  const { container_name: _c, ports: _p, profiles: _pr, labels: _l, ...rest } = original;
  const labels = Object.fromEntries(
    Object.entries(labelsRecord(original.labels)).filter(([k]) => k !== "clawguard.ha"),
  );
  const own = [AGENT_MOUNT, `${inboxVolume(standbyName(gateway.name))}:${INBOX_MOUNT}`];
  const volumes = Array.isArray(rest.volumes) ? [...rest.volumes, ...own] : own;
  return {
    ...rest,
    environment: withAgentVars(rest.environment, agentVars(gateway, standbyName(gateway.name))),
    volumes,
    profiles: [STANDBY_PROFILE],
    labels: { ...labels, "clawguard.role": "gateway", "clawguard.standby-for": gateway.name, ...LABELS },
  };
}

function labelsRecord(labels: unknown): Record<string, string> {
  if (Array.isArray(labels)) {
    return Object.fromEntries(
      labels.map((l) => {
        const [k, ...v] = String(l).split("=");
        return [k ?? "", v.join("=")];
      }),
    );
  }
  return labels && typeof labels === "object" ? (labels as Record<string, string>) : {};
}

/**
 * The gateway's main port, the one its failover group's targets name and its router listens on:
 * the port OpenClaw listens on (its `--port`, as Compose interpolates it; the one its sidecar
 * probes), never a default beside it. The router serves its other published ports too (OpenClaw's
 * bridge, 18790), each from that port of the live one.
 */
export const gatewayPort = (gateway: Agent): number => gateway.port;

/**
 * Listens where clients reached the gateway (`ports`: the gateway's entries, moved to the router)
 * and forwards to the group's current target, as the collector's controller sets it in Redis under
 * its fencing token: the gateway port to the target's, each other port (`--port`) to that port of
 * the target's host. It starts with the gateway's profiles.
 */
export function routerService(
  gateway: Agent,
  ports: unknown[],
  networks: Record<string, unknown>,
  options: InjectOptions,
  profiles: readonly string[] = [],
): Record<string, unknown> {
  const port = gatewayPort(gateway);
  const others = [...new Set(ports.flatMap((entry) => containerPorts({ ports: [entry] })))].filter(
    (p) => p !== port,
  );
  return {
    image: options.collectorImage,
    command: [
      "clawguard",
      "router",
      "--group",
      gateway.name,
      // Only these: a route to anywhere else in Redis is refused.
      "--target",
      groupTarget(gateway.name, port),
      "--target",
      groupTarget(standbyName(gateway.name), port),
      "--listen",
      `0.0.0.0:${port}`,
      ...others.flatMap((p) => ["--port", String(p)]),
    ],
    restart: "unless-stopped",
    environment: { REDIS_URL },
    ...(ports.length > 0 ? { ports } : {}),
    ...networks,
    depends_on: [COLLECTOR],
    // Its own: the image's checks the collector's 18800, where a router does not listen.
    healthcheck: {
      ...healthcheck(port),
      test: [
        "CMD",
        "node",
        "-e",
        `require('node:net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`,
      ],
    },
    ...(profiles.length > 0 ? { profiles: [...profiles] } : {}),
    labels: LABELS,
  };
}

/**
 * The end-to-end probe an agent's sidecar runs: OpenClaw's `/readyz` on the port it listens on, over
 * the loopback of the network namespace they share (any other path answers 200 with the Control
 * UI's page, so the body must say ready). A chat probe would spend the agent's tokens on every
 * round: that one is the user's to add.
 */
export function readyProbe(port: number): Record<string, unknown> {
  return {
    name: "openclaw-ready",
    kind: "http",
    url: `http://127.0.0.1:${port}/readyz`,
    expectBody: '"ready":true',
  };
}

/**
 * The sidecar's config file, inline in the compose file: its probe of the agent, and the
 * providers' real URLs (`llm.providers.<id>.upstream`, and `api` where openclaw.json names none)
 * when inject read them. `$` is doubled: Compose interpolates config content like every other value.
 */
export function sidecarConfig(agent: Agent, upstreams: readonly Upstream[]): Record<string, unknown> {
  const providers = Object.fromEntries(
    upstreams.map((u) => [u.id, { upstream: u.upstream, ...(u.api ? { api: u.api } : {}) }]),
  );
  const config = {
    probe: { probes: [readyProbe(agent.port)] },
    ...(upstreams.length > 0 ? { llm: { providers } } : {}),
  };
  return { content: stringify(config).replaceAll("$", "$$$$"), labels: { ...LABELS } };
}

/** A gateway with a standby: the port both listen on inside the compose network. */
export interface FailoverGroup {
  gateway: string;
  port: number;
}

/** Where the router and clients reach an agent of a group inside the compose network. */
export const groupTarget = (service: string, port: number): string => `http://${service}:${port}`;

/**
 * The collector's config file, inline: a failover group per HA gateway (the gateway, its standby
 * and the URLs they answer on) and the docker actuator in compose mode, which finds each by its
 * Compose labels in this project. The project is left to Compose to interpolate, so that it is the
 * one the containers really carry (quoted: a project named 123 stays a string). Nothing else holds
 * a `$` to double: agent names are 1-63 chars of [A-Za-z0-9_.-] (detection refuses others), which is
 * also the collector's rule for a group's name.
 */
export function collectorConfig(groups: readonly FailoverGroup[]): Record<string, unknown> {
  const doc = new Document({
    controller: {
      groups: groups.map(({ gateway, port }) => {
        const standby = standbyName(gateway);
        return {
          name: gateway,
          primary: gateway,
          standby,
          targets: { [gateway]: groupTarget(gateway, port), [standby]: groupTarget(standby, port) },
        };
      }),
      actuator: {
        kind: "docker",
        compose: { project: PROJECT_INTERPOLATION, sidecarSuffix: SIDECAR_SUFFIX },
      },
    },
  });
  const project = doc.getIn(["controller", "actuator", "compose", "project"], true);
  if (project instanceof Scalar) project.type = Scalar.QUOTE_DOUBLE;
  return { content: doc.toString({ lineWidth: 0 }), labels: { ...LABELS } };
}

export interface Backends {
  /**
   * The app's PostgreSQL service, reused by the collector, or undefined when injection adds its
   * own. Redis is never the app's: clawguard's is on its control network alone (CONTROL_NETWORK).
   */
  postgres: string | undefined;
}

/**
 * The collector; with `failover` (the file has an HA gateway) also its config file (the controller's
 * groups and docker actuator) and the Docker socket, with its group for the image's non-root user.
 * Without one it gets no socket: the socket is root on the host.
 */
export function collectorService(
  backends: Backends,
  secrets: string[],
  networks: Record<string, unknown>,
  options: InjectOptions,
  failover = false,
): Record<string, unknown> {
  return {
    image: options.collectorImage,
    command: ["clawguard", "collector"],
    restart: "unless-stopped",
    environment: {
      CLAWGUARD_COLLECTOR_LISTEN: `0.0.0.0:${COLLECTOR_PORT}`,
      CLAWGUARD_INGEST_TOKENS_FILE: "/run/secrets/clawguard-ingest-tokens",
      CLAWGUARD_SEAL_KEYS_FILE: "/run/secrets/clawguard-seal-keys",
      CLAWGUARD_READ_TOKEN_FILE: "/run/secrets/clawguard-read-token",
      DATABASE_URL_FILE: "/run/secrets/clawguard-database-url",
      REDIS_URL,
      ...(failover ? { CLAWGUARD_COLLECTOR_CONFIG: COLLECTOR_CONFIG_TARGET } : {}),
    },
    // Dashboard, API and /metrics for the operator on this host only.
    // Its host port from CLAWGUARD_COLLECTOR_PORT when set: two projects on one engine collide on 18800.
    ports: [`127.0.0.1:${COLLECTOR_HOST_PORT}:${COLLECTOR_PORT}`],
    ...networks,
    depends_on: {
      [backends.postgres ?? POSTGRES]: {
        condition: backends.postgres ? "service_started" : "service_healthy",
      },
      [REDIS]: { condition: "service_healthy" },
    },
    secrets,
    ...(failover
      ? {
          configs: [{ source: COLLECTOR_CONFIG, target: COLLECTOR_CONFIG_TARGET }],
          volumes: [`${DOCKER_SOCKET}:${DOCKER_SOCKET}`],
          group_add: [DOCKER_GID],
        }
      : {}),
    healthcheck: healthcheck(COLLECTOR_PORT),
    labels: LABELS,
  };
}

export function postgresService(options: InjectOptions) {
  return {
    image: options.postgresImage,
    restart: "unless-stopped",
    environment: {
      POSTGRES_USER: "clawguard",
      POSTGRES_DB: "clawguard",
      POSTGRES_PASSWORD_FILE: "/run/secrets/clawguard-postgres-password",
    },
    volumes: [`${PG_VOLUME}:/var/lib/postgresql/data`],
    // The collector's alone: on the control network, where no agent is.
    networks: [CONTROL_NETWORK],
    secrets: ["clawguard-postgres-password"],
    healthcheck: {
      test: ["CMD-SHELL", "pg_isready -U clawguard -d clawguard"],
      interval: "10s",
      timeout: "3s",
      retries: 5,
    },
    labels: LABELS,
  };
}

/** clawguard's own Redis, on its control network only (the collector and the routers). */
export function redisService(options: InjectOptions) {
  return {
    image: options.redisImage,
    restart: "unless-stopped",
    // Liveness TTLs, the leader lease and the routing pointer: nothing to keep across restarts.
    // Never evicted: a lost lease or route is a failover without a leader or a router without a target.
    command: ["redis-server", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"],
    networks: [CONTROL_NETWORK],
    healthcheck: { test: ["CMD", "redis-cli", "ping"], interval: "10s", timeout: "3s", retries: 5 },
    labels: LABELS,
  };
}
