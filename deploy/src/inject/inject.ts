import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type Pair,
  parseAllDocuments,
  parseDocument,
  visit,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import { INBOX_MOUNT, inboxVolume, workspaceEnv } from "./agent-env.ts";
import { composeSchemaAvailable, validateCompose } from "./compose-schema.ts";
import {
  type Agent,
  containerPorts,
  detectAgent,
  isAgent,
  isPostgresImage,
  pairOf,
  type Skipped,
  trimSlash,
  type Vars,
} from "./detect.ts";
import { InjectError, servicePath } from "./errors.ts";
import type { Upstream } from "./openclaw-config.ts";
import {
  AGENT_MOUNT,
  type Backends,
  BIN_VOLUME,
  COLLECTOR,
  COLLECTOR_CONFIG,
  CONTROL_NETWORK,
  collectorConfig,
  collectorService,
  DEFAULTS,
  type FailoverGroup,
  gatewayPort,
  INJECTED_LABEL,
  type InjectOptions,
  ingestSecret,
  PG_VOLUME,
  POSTGRES,
  postgresService,
  profilesOf,
  REDIS,
  redisService,
  routerName,
  routerService,
  STATE_DIR,
  sealSecret,
  sidecarConfig,
  sidecarConfigName,
  sidecarName,
  sidecarService,
  standbyName,
  standbyService,
} from "./plan.ts";
import { renderMap } from "./render.ts";
import { sharedStateWarnings } from "./shared-state.ts";
import {
  BEGIN,
  columnAt,
  END,
  fromLines,
  LINE,
  type Lines,
  lastLineOf,
  lineAt,
  MOVED,
  removeMarked,
  Splicer,
  toLines,
} from "./text.ts";

/** What injection did to one agent service. */
export interface AgentChange {
  service: string;
  role: Agent["role"];
  added: string[];
  notes: string[];
  /** With a standby: the port the gateway (and the router in front of it) listens on. */
  port?: number;
}

export interface InjectResult {
  text: string;
  agents: AgentChange[];
  skipped: Skipped[];
  /** Services, volumes and secrets added besides the per-agent ones. */
  services: string[];
  volumes: string[];
  secrets: string[];
  /**
   * Top-level configs added: each agent's sidecar config with its providers' real URLs, and the
   * collector's (its failover controller) when there are groups.
   */
  configs: string[];
  /** One per gateway labelled `clawguard.ha: standby`, configured in the collector's controller. */
  groups: FailoverGroup[];
  backends: Backends;
  /** Agents' names (and standbys/routers) that need an ingest token file. */
  tokens: string[];
  options: InjectOptions;
  /** Whether input and output were checked against the Compose Specification (its schema was found). */
  schemaChecked: boolean;
  /** The compose file's `name:` (the Compose project), when it sets one. */
  project: string | undefined;
  /** What the user must check: agents sharing a state directory (OpenClaw's lock lets one run). */
  warnings: string[];
}

export interface RemoveResult {
  text: string;
  /** Blocks (services, volumes, secrets) and single lines taken out; moved lines restored. */
  blocks: number;
  lines: number;
  restored: number;
  /** Names of the services the removed blocks held. */
  services: string[];
}

type Js = Record<string, unknown>;

/**
 * How many nodes aliases may expand to. The yaml default (100) refuses real files that share
 * anchors widely (getsentry/self-hosted needs ~1 500); this still stops an alias bomb.
 */
const MAX_ALIAS_COUNT = 100_000;

/** The document as plain data, `<<` merged; an alias bomb or unresolved alias is bad input. */
export function composeData(doc: Document): Js | null {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Js | null;
  } catch (err) {
    if (err instanceof ReferenceError) throw new InjectError(`YAML aliases: ${err.message}`);
    throw err;
  }
}

/**
 * The one document of a compose file, parsed once. Duplicate keys are found here, in one pass with
 * a set per mapping (the yaml option `uniqueKeys` compares each key with every earlier one: minutes
 * on a 5 MB file).
 */
function parse(text: string): Document {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false, merge: true });
  if (!Array.isArray(docs) || docs.length === 0) return parseDocument(text);
  if (docs.length > 1)
    throw new InjectError(
      "expected one YAML document, found several (---): Compose merges them, clawguard inject does not; make them one document",
    );
  const doc = docs[0] as Document;
  const first = doc.errors[0];
  if (first) throw new InjectError(`invalid YAML: ${first.message.split("\n")[0]}`);
  const lines = toLines(text);
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const item of map.items) {
        if (!isScalar(item.key) || item.key.value === "<<") continue;
        const key = item.key.value;
        if (seen.has(key)) {
          const line = lineAt(lines, range(item.key)[0]) + 1;
          throw new InjectError(`invalid YAML: duplicate key ${JSON.stringify(key)} at line ${line}`);
        }
        seen.add(key);
      }
    },
  });
  return doc;
}

const servicesIn = (text: string): string[] =>
  [...text.matchAll(new RegExp(`^\\s*${BEGIN} service (\\S+)`, "gm"))].map((m) => m[1] ?? "");

/** Takes out exactly what `inject` added; a file without markers comes back unchanged. */
export function removeInjection(text: string): RemoveResult {
  const lines = toLines(text);
  let removal: ReturnType<typeof removeMarked>;
  try {
    removal = removeMarked(lines);
  } catch (err) {
    throw new InjectError((err as Error).message);
  }
  const out = fromLines(removal.lines, lines.eol);
  // Parsed only when some service may still carry inject's label without its markers.
  const doc = out.includes(INJECTED_LABEL) ? parseDocument(out, { merge: true }) : undefined;
  if (doc && doc.errors.length === 0) {
    const services = composeData(doc)?.services;
    for (const [name, service] of Object.entries((services as Record<string, Js> | undefined) ?? {})) {
      const labels = service?.labels;
      const has = Array.isArray(labels)
        ? labels.some((l) => String(l).startsWith(`${INJECTED_LABEL}=`))
        : labels !== null && typeof labels === "object" && INJECTED_LABEL in labels;
      if (has) {
        throw new InjectError(
          `${servicePath(name, "labels", INJECTED_LABEL)}: this service was added by clawguard inject but its "${BEGIN}" markers are gone, so it cannot be removed exactly; delete it by hand`,
          { service: name, key: "labels" },
        );
      }
    }
  }
  return {
    text: out,
    blocks: removal.blocks,
    lines: removal.singles,
    restored: removal.moved,
    services: servicesIn(text),
  };
}

/**
 * The agent services of a compose file, for `--remove` to find their OpenClaw configs: services
 * detection refuses (they were never injected) are passed over, and so is a file that does not parse.
 */
export function agentsIn(text: string): Agent[] {
  let services: unknown;
  try {
    services = composeData(parse(text))?.services;
  } catch (err) {
    if (err instanceof InjectError) return [];
    throw err;
  }
  const agents: Agent[] = [];
  for (const [name, service] of Object.entries((services ?? {}) as Record<string, Js>)) {
    try {
      const found = detectAgent(name, service ?? {});
      if (isAgent(found)) agents.push(found);
    } catch (err) {
      if (!(err instanceof InjectError)) throw err;
    }
  }
  return agents;
}

function blockMap(node: unknown, path: string, service?: string): YAMLMap {
  if (!isMap(node) || node.flow) {
    throw new InjectError(
      `${path}: expected a block mapping (one key per line)${isMap(node) ? ", found a flow mapping {...}; write it one key per line so clawguard can add lines to it" : ""}`,
      { service, key: path },
    );
  }
  return node;
}

function range(node: unknown): [number, number, number] {
  const r = (node as { range?: [number, number, number] }).range;
  if (!r) throw new Error("internal: node without a source range");
  return r;
}

const marker = (column: number, what: string): string => `${" ".repeat(column)}${BEGIN} ${what}`;
const endMarker = (column: number): string => `${" ".repeat(column)}${END}`;

/** Lines of a marked block holding `entries` as keys of a map whose keys start at `column`. */
function block(
  what: string,
  entries: Js,
  column: number,
  unit: number,
  comments: string | Record<string, string> = {},
): string[] {
  return [
    marker(column, what),
    ...renderMap(entries, {
      column,
      unit,
      comments: typeof comments === "string" ? { [Object.keys(entries)[0] ?? ""]: comments } : comments,
    }),
    endMarker(column),
  ];
}

/** Adds entries to a top-level map (`volumes`, `secrets`), creating it at the end of the file if missing. */
function addTopLevel(
  key: string,
  entries: Js,
  root: YAMLMap,
  lines: Lines,
  splicer: Splicer,
  unit: number,
  eofBlocks: string[],
  comments: Record<string, string> = {},
): void {
  const pair = pairOf(root, key);
  if (!pair) {
    // The entries one level down, so that their comments sit on them.
    const inner = block(key, entries, unit, unit, comments).slice(1, -1);
    eofBlocks.push(marker(0, `${key} (top level)`), `${key}:`, ...inner, endMarker(0));
    return;
  }
  const value = pair.value;
  if (value === null || (isScalar(value) && value.value === null)) {
    const column = columnAt(lines, range(pair.key)[0]) + unit;
    splicer.insertAfter(lineAt(lines, range(pair.key)[0]), block(key, entries, column, unit, comments));
    return;
  }
  const map = blockMap(value, key);
  const column = columnAt(lines, range(map)[0]);
  splicer.insertAfter(lastLineOf(lines, range(map)[1]), block(key, entries, column, unit, comments));
}

/** The networks named, and clawguard's control network (its Redis): for the collector and the routers. */
function withControl(names: Iterable<string>): Js {
  return { networks: [...new Set([...names, CONTROL_NETWORK])] };
}

/** An agent's providers' real URLs (from its openclaw.json), or undefined when there are none to give. */
export type UpstreamsOf = (agent: Agent) => readonly Upstream[] | undefined;

/** The input, parsed and checked once: what every later step reads. */
interface Input {
  options: InjectOptions;
  /** The text with an earlier injection taken out: what inject adds to. */
  base: string;
  doc: Document;
  lines: Lines;
  root: YAMLMap;
  js: Js;
  /** The `services` block map, and its services as plain data. */
  services: YAMLMap;
  servicesJs: Record<string, Js>;
  schemaChecked: boolean;
}

/** One thing inject adds to a top-level map, with why (for collision messages) and its comment. */
interface Addition {
  why: string;
  value: Js;
  comment: string;
}

/** Everything inject adds to the file, gathered before a line is written. */
interface Additions {
  services: Map<string, Addition>;
  configs: Map<string, { value: Js; comment: string }>;
  changes: AgentChange[];
  /** Services (agents, standbys) that need an ingest token and a seal key. */
  tokens: string[];
  groups: FailoverGroup[];
}

/** The top-level entries inject adds, by key. */
interface TopLevel {
  volumes: Js;
  networks: Js;
  secrets: Js;
  configs: Js;
  secretNames: string[];
}

const COLLECTOR_SECRETS = [
  "clawguard-ingest-tokens",
  "clawguard-seal-keys",
  "clawguard-read-token",
  "clawguard-database-url",
];

/** Parses `text` (without an earlier injection) and checks it is a compose file with services. */
function readInput(text: string, partial: Partial<InjectOptions>): Input {
  const options: InjectOptions = { ...DEFAULTS, ...partial };
  const base = removeInjection(text).text;
  const doc = parse(base);
  const root = doc.contents;
  if (!isMap(root))
    throw new InjectError("expected a compose file: a mapping with a services key at the top");
  const js = composeData(doc) as Js;
  const schemaChecked = composeSchemaAvailable();
  const problems = schemaChecked ? validateCompose(js) : [];
  if (problems.length > 0) {
    throw new InjectError(problems.map((p) => p.message).join("\n"), {
      service: problems[0]?.service,
      key: problems[0]?.path,
    });
  }
  const servicesPair = pairOf(root, "services");
  if (!servicesPair)
    throw new InjectError("services: missing; there are no services to put a sidecar beside");
  const services = blockMap(servicesPair.value, "services");
  const servicesJs = (js.services ?? {}) as Record<string, Js>;
  return { options, base, doc, lines: toLines(base), root, js, services, servicesJs, schemaChecked };
}

/** The agent services, and the services detection passed over with why; none at all is bad input. */
function findAgents(servicesJs: Record<string, Js>, vars?: Vars): { agents: Agent[]; skipped: Skipped[] } {
  const agents: Agent[] = [];
  const skipped: Skipped[] = [];
  for (const [name, service] of Object.entries(servicesJs)) {
    const found = detectAgent(name, service ?? {}, vars);
    if (isAgent(found)) agents.push(found);
    else if (found) skipped.push(found);
    else if (service?.extends !== undefined && service.image === undefined)
      // Its image is in the service it extends, which inject does not follow: said, not passed over.
      skipped.push({
        name,
        reason:
          "its image comes through extends, which clawguard inject does not follow: if it is an OpenClaw agent, give it the label clawguard.role (gateway, sub-agent or bot)",
      });
  }
  if (agents.length === 0) {
    throw new InjectError(
      `services: no agent services: none runs an OpenClaw image (ghcr.io/openclaw/openclaw, openclaw/openclaw, openclaw:local) with the gateway, and none has the label clawguard.role (gateway, sub-agent or bot)${skipped.length ? `; skipped: ${skipped.map((s) => `${s.name} (${s.reason})`).join(", ")}` : ""}`,
      { key: "services" },
    );
  }
  return { agents, skipped };
}

/**
 * The app's own PostgreSQL (not an agent), which the collector then uses. Never the app's Redis:
 * agents may reach it, and whoever writes clawguard's keys there steers its routers and failover.
 */
function findBackends(servicesJs: Record<string, Js>, agents: readonly Agent[]): Backends {
  const agentNames = new Set(agents.map((a) => a.name));
  const others = Object.entries(servicesJs).filter(([name]) => !agentNames.has(name));
  const image = (s: Js | undefined) => (typeof s?.image === "string" ? s.image : "");
  return { postgres: others.find(([, s]) => isPostgresImage(image(s)))?.[0] };
}

/**
 * An agent's sidecar and its config (the probe of its agent, the providers' real URLs when known);
 * with `clawguard.ha: standby` also its standby, the standby's sidecar and the router.
 */
function addAgent(agent: Agent, input: Input, known: readonly Upstream[], adds: Additions): void {
  const change: AgentChange = { service: agent.name, role: agent.role, added: [], notes: [] };
  const add = (name: string, why: string, value: Js, comment: string) => {
    adds.services.set(name, { why, value, comment });
    change.added.push(name);
  };
  const config = sidecarConfigName(agent.name);
  adds.configs.set(config, {
    value: sidecarConfig(agent, known),
    comment: `clawguard sidecar config of ${agent.name}: its probe of OpenClaw's /readyz on port ${agent.port}${known.length > 0 ? `; the real URLs of its providers (${known.map((u) => u.id).join(", ")}), read from ${agent.state?.source ?? "its state"}/openclaw.json; the agent reaches them through the sidecar` : ""}`,
  });
  const profiles = profilesOf(input.servicesJs[agent.name]);
  add(
    sidecarName(agent.name),
    `the sidecar of ${agent.name}`,
    sidecarService(agent, agent.name, input.options, false, config, profiles),
    `clawguard sidecar of ${agent.name} (${agent.role}): its network namespace, workspace (rw) and state (ro)`,
  );
  adds.tokens.push(agent.name);
  change.notes.push(`mounts ${AGENT_MOUNT} and its own inbox (${inboxVolume(agent.name)}:${INBOX_MOUNT})`);
  if (agent.workspaceDir !== trimSlash(agent.workspace.target)) {
    change.notes.push(
      `workspace ${agent.workspaceDir} is inside the mount of ${agent.workspace.source}: the sidecar gets that mount read-write`,
    );
  }
  if (profiles.length > 0) change.notes.push(`its sidecar has its profiles (${profiles.join(", ")})`);
  change.notes.push(`probes http://127.0.0.1:${agent.port}/readyz`);
  if (known.length > 0) change.notes.push(`provider URLs in configs.${config}`);
  if (agent.ha) addStandby(agent, input, { config, profiles, change, add }, adds);
  adds.changes.push(change);
}

/** What `addAgent` hands on to `addStandby`. */
interface AgentAdding {
  config: string;
  profiles: string[];
  change: AgentChange;
  add: (name: string, why: string, value: Js, comment: string) => void;
}

/** An HA gateway's standby (its twin, not started by default), the standby's sidecar, and the router. */
function addStandby(
  agent: Agent,
  input: Input,
  { config, profiles, change, add }: AgentAdding,
  adds: Additions,
): void {
  const standby = standbyName(agent.name);
  const service = input.servicesJs[agent.name] ?? {};
  add(
    standby,
    `the standby of ${agent.name}`,
    standbyService(agent, service),
    `standby of ${agent.name} on the same state: never started by default (profile clawguard-standby); failover fences ${agent.name} first`,
  );
  add(
    sidecarName(standby),
    `the sidecar of ${standby}`,
    sidecarService(agent, standby, input.options, true, config),
    `clawguard sidecar of ${standby}: starts with it`,
  );
  const port = gatewayPort(agent);
  const moved = gatewayPorts(service.ports);
  add(
    routerName(agent.name),
    `the router in front of ${agent.name}`,
    routerService(agent, moved.entries, withControl(agent.networks), input.options, profiles),
    `clawguard router: listens where clients reached ${agent.name} and forwards to the live one of ${agent.name} / ${standby}`,
  );
  adds.tokens.push(standby);
  change.port = port;
  adds.groups.push({ gateway: agent.name, port });
  if (moved.entries.length > 0) {
    const ports = [...new Set(moved.entries.flatMap((e) => containerPorts({ ports: [e] })))];
    change.notes.push(
      `port${ports.length > 1 ? "s" : ""} ${ports.join(", ")} moved to ${routerName(agent.name)} (kept as a comment)${moved.kept.length > 0 ? `; ${moved.kept.join(", ")} stay on ${agent.name} (not a single container port: not served while its standby serves)` : ""}`,
    );
  }
}

/** The collector, and PostgreSQL and Redis when the file has none; the names of those added. */
function addShared(input: Input, agents: readonly Agent[], backends: Backends, adds: Additions): string[] {
  const backendNetworks = [backends.postgres]
    .filter((b): b is string => b !== undefined)
    .flatMap((b) => {
      const n = input.servicesJs[b]?.networks;
      return Array.isArray(n) ? n.map(String) : n && typeof n === "object" ? Object.keys(n) : ["default"];
    });
  const networks = withControl([...agents.flatMap((a) => a.networks), ...backendNetworks]);
  const { groups, services } = adds;
  const extra: string[] = [COLLECTOR];
  services.set(COLLECTOR, {
    why: "the clawguard collector",
    value: collectorService(backends, COLLECTOR_SECRETS, networks, input.options, groups.length > 0),
    comment: `clawguard collector: ingest, audit trail, fleet, alerts (dashboard on 127.0.0.1:18800, or CLAWGUARD_COLLECTOR_PORT)${groups.length > 0 ? `; fails over ${groups.map((g) => g.gateway).join(", ")} through the Docker socket (root on this host)` : ""}`,
  });
  if (groups.length > 0) {
    adds.configs.set(COLLECTOR_CONFIG, {
      value: collectorConfig(groups),
      comment: `clawguard collector config: failover of ${groups.map((g) => `${g.gateway} to ${standbyName(g.gateway)}`).join(", ")} (controller.groups), by the Docker Engine in this Compose project (controller.actuator)`,
    });
  }
  if (!backends.postgres) {
    extra.push(POSTGRES);
    services.set(POSTGRES, {
      why: "the collector's PostgreSQL",
      value: postgresService(input.options),
      comment: "PostgreSQL for the collector (audit events, incidents, memory versions)",
    });
  }
  extra.push(REDIS);
  services.set(REDIS, {
    why: "clawguard's Redis",
    value: redisService(input.options),
    comment: `Redis of clawguard's control plane (liveness, leader lease, routes): on ${CONTROL_NETWORK} alone, which no agent joins`,
  });
  for (const [name, { why }] of services) {
    if (name in input.servicesJs) {
      throw new InjectError(
        `${servicePath(name)}: already exists, and clawguard inject adds a service of that name (${why}); rename the existing service`,
        { service: name, key: servicePath(name) },
      );
    }
  }
  return extra;
}

/** The volumes, secrets and configs inject adds at the top level; a name already there is refused. */
function topLevel(input: Input, backends: Backends, adds: Additions): TopLevel {
  // A new object each: one object twice would be written as a YAML anchor and alias.
  const labelled = () => ({ labels: { [INJECTED_LABEL]: "true" } });
  const volumes: Js = { [BIN_VOLUME]: labelled() };
  // Each sidecar's private state (spool, token): outlives the container, shared with nothing.
  for (const { value } of adds.services.values()) {
    const mounts = (value as { volumes?: unknown }).volumes;
    const state = Array.isArray(mounts)
      ? mounts.find((m): m is string => typeof m === "string" && m.endsWith(`:${STATE_DIR}`))
      : undefined;
    if (state) volumes[state.slice(0, -`:${STATE_DIR}`.length)] = labelled();
    const inbox = Array.isArray(mounts)
      ? mounts.find((m): m is string => typeof m === "string" && m.endsWith(`:${INBOX_MOUNT}`))
      : undefined;
    if (inbox) volumes[inbox.slice(0, -`:${INBOX_MOUNT}`.length)] = labelled();
  }
  if (!backends.postgres) volumes[PG_VOLUME] = labelled();
  const secretNames = [
    ...adds.tokens.map(ingestSecret),
    ...adds.tokens.map(sealSecret),
    ...COLLECTOR_SECRETS,
    ...(backends.postgres ? [] : ["clawguard-postgres-password"]),
  ];
  const dir = input.options.secretsDir.replace(/\/+$/, "");
  const secrets: Js = Object.fromEntries(secretNames.map((n) => [n, { file: `${dir}/${n}` }]));
  const configs: Js = Object.fromEntries([...adds.configs].map(([name, { value }]) => [name, value]));
  // The control plane's network: internal (no way out), joined by the collector and the routers only.
  const networks: Js = { [CONTROL_NETWORK]: { internal: true, ...labelled() } };
  for (const [key, entries] of [
    ["volumes", volumes],
    ["networks", networks],
    ["secrets", secrets],
    ["configs", configs],
  ] as const) {
    const existing = (input.js[key] ?? {}) as Js;
    for (const name of Object.keys(entries)) {
      if (existing && name in existing) {
        throw new InjectError(
          `${key}.${name}: already exists, and clawguard inject adds a ${key.slice(0, -1)} of that name; rename the existing one`,
          { key: `${key}.${name}` },
        );
      }
    }
  }
  return { volumes, networks, secrets, configs, secretNames };
}

/** The column of the service names and the indentation unit, as the file has them. */
function indentation(input: Input): { svcColumn: number; unit: number } {
  const { services, lines } = input;
  const firstService = services.items[0];
  const svcColumn = firstService ? columnAt(lines, range(firstService.key)[0]) : 2;
  const firstValue = firstService?.value;
  const inner =
    isMap(firstValue) && !firstValue.flow && firstValue.items[0]
      ? columnAt(lines, range(firstValue.items[0].key)[0])
      : 0;
  return { svcColumn, unit: inner > svcColumn ? inner - svcColumn : 2 };
}

/**
 * Each agent's mount of `clawguard-bin`, on a marked line at the end of its own `volumes` list, and
 * `CLAWGUARD_WORKSPACE` in its environment (said in its change's notes).
 */
function spliceAgents(
  input: Input,
  agents: readonly Agent[],
  splicer: Splicer,
  changes: AgentChange[],
): void {
  const { services, lines } = input;
  const { unit } = indentation(input);
  for (const agent of agents) {
    const pair = services.items.find((p) => isScalar(p.key) && p.key.value === agent.name) as Pair;
    const map = blockMap(pair.value, servicePath(agent.name), agent.name);
    const volsPair = pairOf(map, "volumes");
    const vols = volsPair?.value;
    if (!isSeq(vols) || vols.flow) {
      throw new InjectError(
        `${servicePath(agent.name, "volumes")}: expected the service's own block list (one "- " item per line)${isSeq(vols) ? ", found a flow list [...]; write it one item per line so clawguard can add its mount on a line of its own" : volsPair ? "" : ", found none on the service itself (inherited through << or extends?); list the volumes on the service"}`,
        { service: agent.name, key: "volumes" },
      );
    }
    const column = columnAt(lines, range(vols)[0]);
    const volsEnd = lastLineOf(lines, range(vols)[1]);
    splicer.insertAfter(volsEnd, [
      `${" ".repeat(column)}- ${AGENT_MOUNT}${LINE}`,
      `${" ".repeat(column)}- ${inboxVolume(agent.name)}:${INBOX_MOUNT}${LINE}`,
    ]);
    const js = input.servicesJs[agent.name] ?? {};
    const at = { after: volsEnd, column: columnAt(lines, range(volsPair?.key)[0]) };
    const env = workspaceEnv(input.doc, lines, unit, agent, { map, js }, at);
    if (env.insert) splicer.insertAfter(env.insert.after, env.insert.lines);
    changes.find((c) => c.service === agent.name)?.notes.push(env.note);
    const ports = agent.ha ? pairOf(map, "ports") : undefined;
    if (ports) movePorts(agent, ports, lines, splicer);
  }
}

/** The injected text: the agents' lines, then the added services and top-level entries, all marked. */
function write(input: Input, agents: readonly Agent[], adds: Additions, tops: TopLevel): string {
  const { lines, root } = input;
  const { svcColumn, unit } = indentation(input);
  const splicer = new Splicer();
  spliceAgents(input, agents, splicer, adds.changes);
  const servicesEnd = lastLineOf(lines, range(input.services)[1]);
  for (const [name, { value, comment }] of adds.services) {
    splicer.insertAfter(servicesEnd, block(`service ${name}`, { [name]: value }, svcColumn, unit, comment));
  }
  const eofBlocks: string[] = [];
  addTopLevel("volumes", tops.volumes, root, lines, splicer, unit, eofBlocks);
  addTopLevel("secrets", tops.secrets, root, lines, splicer, unit, eofBlocks);
  addTopLevel("networks", tops.networks, root, lines, splicer, unit, eofBlocks);
  if (adds.configs.size > 0) {
    const comments = Object.fromEntries([...adds.configs].map(([name, { comment }]) => [name, comment]));
    addTopLevel("configs", tops.configs, root, lines, splicer, unit, eofBlocks, comments);
  }
  if (eofBlocks.length > 0) splicer.insertAfter(documentEnd(lines, root), eofBlocks);
  return fromLines(splicer.apply(lines.lines), lines.eol);
}

/**
 * Adds a sidecar beside every agent service (with a config: its probe of the agent, and its
 * providers' real URLs when `upstreams` gives them), the collector (and PostgreSQL/Redis when the
 * file has none), the shared `clawguard-bin` volume and the secrets; for a gateway labelled
 * `clawguard.ha: standby` also a standby (not started by default) and a router. Injecting an
 * injected file first takes the old injection out, so the result is the same bytes.
 */
export function inject(
  text: string,
  partial: Partial<InjectOptions> = {},
  upstreams: UpstreamsOf = () => undefined,
): InjectResult {
  const input = readInput(text, partial);
  const { agents, skipped } = findAgents(input.servicesJs, partial.vars);
  const backends = findBackends(input.servicesJs, agents);
  const adds: Additions = { services: new Map(), configs: new Map(), changes: [], tokens: [], groups: [] };
  for (const agent of agents) addAgent(agent, input, upstreams(agent) ?? [], adds);
  const extra = addShared(input, agents, backends, adds);
  const tops = topLevel(input, backends, adds);
  const out = write(input, agents, adds, tops);
  selfCheck(out, input.base, input.schemaChecked);
  const { js, options, schemaChecked } = input;
  return {
    text: out,
    agents: adds.changes,
    skipped,
    services: extra,
    volumes: Object.keys(tops.volumes),
    secrets: tops.secretNames,
    configs: [...adds.configs.keys()],
    groups: adds.groups,
    backends,
    tokens: adds.tokens,
    options,
    schemaChecked,
    project: typeof js.name === "string" && !js.name.includes("$") ? js.name : undefined,
    warnings: sharedStateWarnings(agents),
  };
}

/**
 * The line after which top-level keys are added at the end: the document's last line, before a
 * YAML document end marker (`...`) and whatever follows it, and before a final empty line.
 */
function documentEnd(lines: Lines, root: YAMLMap): number {
  const n = lines.lines.length;
  for (let i = lastLineOf(lines, range(root)[2]) + 1; i < n; i++) {
    if (/^\.\.\.(\s|#|$)/.test(lines.lines[i] ?? "")) return i - 1;
  }
  return lines.lines[n - 1] === "" ? n - 2 : n - 1;
}

/**
 * The gateway's `ports` entries the router takes over (every one with a single container port: it
 * serves each), and those that stay with the gateway (a range, or a port not known until Compose
 * interpolates it).
 */
function gatewayPorts(ports: unknown): { entries: unknown[]; kept: string[] } {
  const entries: unknown[] = [];
  const kept: string[] = [];
  for (const entry of Array.isArray(ports) ? ports : []) {
    if (containerPorts({ ports: [entry] }).length > 0) entries.push(entry);
    else kept.push(typeof entry === "string" ? entry : JSON.stringify(entry));
  }
  return { entries, kept };
}

/**
 * Turns the gateway's `ports` entries the router takes over into marked comments (the router
 * publishes them now); all of them moved: the `ports` key too.
 */
function movePorts(agent: Agent, ports: Pair, lines: Lines, splicer: Splicer): void {
  const comment = (first: number, last: number, column: number) => {
    for (let i = first; i <= last; i++)
      splicer.replace(i, `${" ".repeat(column)}${MOVED}${lines.lines[i] ?? ""}`);
  };
  const seq = ports.value as YAMLSeq | undefined;
  const items = isSeq(seq) ? seq.items : [];
  const moving = items.filter((item) => containerPorts({ ports: [toJs(item)] }).length > 0);
  if (moving.length === 0) return;
  const keyStart = range(ports.key)[0];
  if (moving.length === items.length) {
    comment(lineAt(lines, keyStart), lastLineOf(lines, range(ports.value)[1]), columnAt(lines, keyStart));
    return;
  }
  if (seq?.flow) {
    throw new InjectError(
      `${servicePath(agent.name, "ports")}: a flow list [...] with ports the router takes over and others it cannot (a range, or a port known only after interpolation); write it one item per line so clawguard can move those alone`,
      { service: agent.name, key: "ports" },
    );
  }
  for (const item of moving) {
    const first = lineAt(lines, range(item)[0]);
    const column = (lines.lines[first] ?? "").length - (lines.lines[first] ?? "").trimStart().length;
    comment(first, lastLineOf(lines, range(item)[1]), column);
  }
}

const toJs = (node: unknown): unknown =>
  node && typeof node === "object" && "toJSON" in node ? (node as { toJSON(): unknown }).toJSON() : node;

/** The output must be a valid compose file, and removal must give back the input exactly. */
function selfCheck(out: string, base: string, schemaChecked: boolean): void {
  let doc: Document;
  try {
    doc = parse(out);
  } catch (err) {
    throw new Error(`internal: injected file does not parse: ${(err as Error).message}`);
  }
  const problems = schemaChecked ? validateCompose(composeData(doc)) : [];
  if (problems.length > 0) {
    throw new Error(`internal: injected file breaks the Compose Specification: ${problems[0]?.message}`);
  }
  const lines = toLines(out);
  if (fromLines(removeMarked(lines).lines, lines.eol) !== base)
    throw new Error("internal: removing the injection does not restore the input");
}
