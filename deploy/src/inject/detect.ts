import { isMap, isScalar, isSeq, type Pair, type YAMLMap } from "yaml";
import { InjectError, servicePath } from "./errors.ts";
import { interpolateVars } from "./host-path.ts";

/**
 * Which services are OpenClaw agents, and what of theirs the sidecar needs.
 *
 * An agent is a service that either
 *   - has the label `clawguard.role` set to `gateway`, `sub-agent` or `bot`, or
 *   - runs an OpenClaw image (the last path part of the image's repository is `openclaw`, or
 *     `moltbot`/`clawdbot`, its former names:
 *     `ghcr.io/openclaw/openclaw:latest`, `openclaw/openclaw`, `${OPENCLAW_IMAGE:-openclaw:local}`)
 *     and runs the gateway: no `command`/`entrypoint` override, or one that mentions `gateway`.
 *     The official file's `openclaw-cli` (entrypoint `node dist/index.js`) is a one-shot helper,
 *     not an agent, and is skipped.
 * `clawguard.role: none` excludes a service. Without the label the role comes from the name:
 * `gateway` or `main` in it -> gateway, `bot` -> bot, otherwise sub-agent.
 */
export const ROLES = ["gateway", "sub-agent", "bot"] as const;
export type Role = (typeof ROLES)[number];

export interface Mount {
  /** The entry as written: short syntax string, or a long syntax object. */
  entry: string | Record<string, unknown>;
  source: string;
  target: string;
}

export interface Agent {
  name: string;
  role: Role;
  /** `clawguard.ha: standby` on a gateway: add a standby and a router. */
  ha: boolean;
  /** The mount holding the workspace: its own, or one it lies inside (OpenClaw's `<state>/workspace`). */
  workspace: Mount;
  /** The workspace's path in the container: `workspace.target`, or a folder inside it. */
  workspaceDir: string;
  state: Mount | undefined;
  /** The `networks` it joins (names); `["default"]` when it has none. */
  networks: string[];
  /** Container ports it publishes, from `ports` (the router listens on these). */
  containerPorts: number[];
  /** The port OpenClaw listens on in its container (its sidecar probes it there). */
  port: number;
  /** Its `user:` as written (its sidecar runs as the same user: they share its files). */
  user?: string;
}

export interface Skipped {
  name: string;
  reason: string;
}

/** Splits on `:` outside `${...}` interpolations. */
export function splitColons(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "$" && value[i + 1] === "{") depth++;
    else if (c === "}" && depth > 0) depth--;
    if (c === ":" && depth === 0) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/** The image reference with interpolation defaults substituted: `${X:-openclaw:local}` -> `openclaw:local`. */
function resolveDefaults(image: string): string {
  return image.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?])?([^}]*)\}/g, "$1");
}

/** The last path part of an image's repository, lowercased: `ghcr.io/openclaw/openclaw:1` -> `openclaw`. */
export function imageName(image: string): string {
  const ref = resolveDefaults(image).split("@")[0] ?? "";
  const last = ref.split("/").pop() ?? "";
  return (last.split(":")[0] ?? "").toLowerCase();
}

/** OpenClaw's image, also under its former names (Clawdbot, then Moltbot). */
const OPENCLAW_IMAGES = new Set(["openclaw", "moltbot", "clawdbot"]);
export const isOpenClawImage = (image: string): boolean => OPENCLAW_IMAGES.has(imageName(image));
export const isPostgresImage = (image: string): boolean =>
  /^(postgres|postgresql|postgis)/.test(imageName(image));
export const isRedisImage = (image: string): boolean => /^(redis|valkey)/.test(imageName(image));

/** Labels in map form or list form (`key=value`). */
export function labelsOf(service: Record<string, unknown>): Record<string, string> {
  const labels = service.labels;
  if (Array.isArray(labels)) {
    const out: Record<string, string> = {};
    for (const item of labels) {
      const [k, ...v] = String(item).split("=");
      if (k) out[k] = v.join("=");
    }
    return out;
  }
  if (labels && typeof labels === "object") {
    return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v === null ? "" : String(v)]));
  }
  return {};
}

const words = (v: unknown): string => (Array.isArray(v) ? v.join(" ") : typeof v === "string" ? v : "");

function mountsOf(service: Record<string, unknown>): Mount[] {
  const out: Mount[] = [];
  for (const entry of Array.isArray(service.volumes) ? service.volumes : []) {
    if (typeof entry === "string") {
      const parts = splitColons(entry);
      if (parts.length >= 2 && parts[0] && parts[1]) out.push({ entry, source: parts[0], target: parts[1] });
    } else if (entry && typeof entry === "object") {
      const e = entry as Record<string, unknown>;
      if (typeof e.source === "string" && typeof e.target === "string" && e.type !== "tmpfs") {
        out.push({ entry: e, source: e.source, target: e.target });
      }
    }
  }
  return out;
}

export const trimSlash = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, "") : p);

/** What to do about a missing workspace mount. */
function ownMount(name: string, service: Record<string, unknown>): string {
  if (service.extends !== undefined) {
    return `Its other volumes come through extends, which clawguard inject does not follow: list the workspace mount on ${name} itself`;
  }
  return "Mount it, or set the label clawguard.workspace to its container path";
}

/** Container ports from short (`[ip:][host:]container[/proto]`) and long (`target:`) port syntax. */
export function containerPorts(service: Record<string, unknown>): number[] {
  const out: number[] = [];
  for (const entry of Array.isArray(service.ports) ? service.ports : []) {
    let port: number | undefined;
    if (typeof entry === "number") port = entry;
    else if (typeof entry === "string") {
      const last = splitColons(entry).pop()?.split("/")[0] ?? "";
      port = /^\d+$/.test(last) ? Number(last) : undefined;
    } else if (entry && typeof entry === "object") {
      const target = (entry as Record<string, unknown>).target;
      port = typeof target === "number" ? target : typeof target === "string" ? Number(target) : undefined;
    }
    if (port !== undefined && Number.isInteger(port) && port > 0 && !out.includes(port)) out.push(port);
  }
  return out;
}

/** The variables Compose interpolates with: the environment over the `.env` beside the file. */
export type Vars = Readonly<Record<string, string | undefined>>;

/** OpenClaw's gateway port when its command names none. */
export const OPENCLAW_PORT = 18789;

/**
 * The port OpenClaw listens on in the container: `--port N` (or `--port=N`, `${VAR:-N}`) in its
 * command or entrypoint, else OpenClaw's default.
 */
export function listenPort(service: Record<string, unknown>, vars?: Vars): number {
  const argv = [service.entrypoint, service.command].flatMap((v) =>
    Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.split(/\s+/) : [],
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const value = arg === "--port" ? argv[i + 1] : arg.startsWith("--port=") ? arg.slice(7) : undefined;
    // As Compose runs it: the environment and .env (`vars`) first, else the written default.
    const port = Number((vars && interpolateVars(value ?? "", vars)) ?? resolveDefaults(value ?? ""));
    if (Number.isInteger(port) && port > 0 && port < 65536) return port;
  }
  return OPENCLAW_PORT;
}

function networksOf(service: Record<string, unknown>): string[] {
  const n = service.networks;
  if (Array.isArray(n)) return n.map(String);
  if (n && typeof n === "object") return Object.keys(n);
  return ["default"];
}

function inferRole(name: string): Role {
  if (/gateway|main/i.test(name)) return "gateway";
  if (/bot/i.test(name)) return "bot";
  return "sub-agent";
}

/** Decides whether `name` is an agent; throws on an agent the sidecar cannot be put beside. */
export function detectAgent(
  name: string,
  service: Record<string, unknown>,
  vars?: Vars,
): Agent | Skipped | undefined {
  const labels = labelsOf(service);
  const labelled = labels["clawguard.role"];
  const image = typeof service.image === "string" ? service.image : "";
  if (labelled === "none") return { name, reason: "label clawguard.role: none" };
  if (labelled !== undefined && !(ROLES as readonly string[]).includes(labelled)) {
    throw new InjectError(
      `${servicePath(name, "labels", "clawguard.role")}: expected gateway, sub-agent, bot or none, got ${JSON.stringify(labelled)}`,
      { service: name, key: "labels" },
    );
  }
  if (labelled === undefined) {
    const run = `${words(service.entrypoint)} ${words(service.command)}`.trim();
    if (!isOpenClawImage(image)) {
      // Built here, or another image name: say so rather than pass over an agent in silence.
      const named = /openclaw/i.test(name) && !isPostgresImage(image) && !isRedisImage(image);
      if (named || (/openclaw/i.test(imageName(image)) && /\bgateway\b/.test(run))) {
        return {
          name,
          reason: `looks like OpenClaw (${image ? `image ${image}` : "no image, built here"}), but only OpenClaw images are recognised; label it clawguard.role (gateway, sub-agent or bot) to include it`,
        };
      }
      return undefined;
    }
    if (run !== "" && !/\bgateway\b/.test(run)) {
      return {
        name,
        reason: `OpenClaw image, but its command/entrypoint does not run the gateway (${JSON.stringify(run)}); label clawguard.role to include it`,
      };
    }
  }
  const role = (labelled as Role | undefined) ?? inferRole(name);
  const where = (key: string) => ({ service: name, key });
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    throw new InjectError(
      `${servicePath(name)}: the service name is the sidecar's agent name and must be 1-63 chars of [A-Za-z0-9_.-], not starting with _ . -`,
      where("name"),
    );
  }
  if (service.network_mode !== undefined) {
    throw new InjectError(
      `${servicePath(name, "network_mode")}: already set to ${JSON.stringify(service.network_mode)}; the sidecar joins the agent's network namespace (network_mode: "service:${name}"), so the agent must have its own. Remove network_mode from ${name}, or label it clawguard.role: none`,
      where("network_mode"),
    );
  }
  const ha = labels["clawguard.ha"];
  if (ha !== undefined && ha !== "standby") {
    throw new InjectError(
      `${servicePath(name, "labels", "clawguard.ha")}: expected "standby", got ${JSON.stringify(ha)}`,
      where("labels"),
    );
  }
  if (ha !== undefined && role !== "gateway") {
    throw new InjectError(
      `${servicePath(name, "labels", "clawguard.ha")}: only a gateway can have a standby, and ${name} is a ${role}`,
      where("labels"),
    );
  }
  const mounts = mountsOf(service);
  const { workspace, workspaceDir, state } = workspaceAndState(name, service, mounts, labels);
  return {
    name,
    role,
    ha: ha === "standby",
    workspace,
    workspaceDir,
    state,
    networks: networksOf(service),
    containerPorts: containerPorts(service),
    port: listenPort(service, vars),
    ...(typeof service.user === "string" || typeof service.user === "number"
      ? { user: String(service.user) }
      : {}),
  };
}

/**
 * The workspace (a mount of its own, or a folder inside another mount: OpenClaw keeps it in
 * `<state>/workspace` by default) and the state directory. A workspace inside a mount is watched
 * through that mount, which the sidecar then gets read-write.
 */
function workspaceAndState(
  name: string,
  service: Record<string, unknown>,
  mounts: Mount[],
  labels: Record<string, string>,
): { workspace: Mount; workspaceDir: string; state: Mount | undefined } {
  const wanted = labels["clawguard.workspace"];
  const own = mounts.find((m) =>
    wanted ? trimSlash(m.target) === trimSlash(wanted) : trimSlash(m.target).endsWith("/workspace"),
  );
  const wantedState = labels["clawguard.state"];
  const state = mounts.find((m) =>
    wantedState ? trimSlash(m.target) === trimSlash(wantedState) : trimSlash(m.target).endsWith("/.openclaw"),
  );
  // OpenClaw's default workspace is <state>/workspace: where to look when it has no mount of its own.
  const inState = state ? `${trimSlash(state.target)}/workspace` : undefined;
  const where = { service: name, key: "volumes" };
  if (own && own === state) {
    throw new InjectError(
      `${servicePath(name, "volumes")}: the workspace and the state are the same mount (${own.target}); set the label clawguard.workspace to the workspace inside it (OpenClaw's default: ${inState})`,
      where,
    );
  }
  if (own) return { workspace: own, workspaceDir: trimSlash(own.target), state };
  const dir = wanted ? trimSlash(wanted) : inState;
  // The deepest mount the workspace lies in.
  const parent = dir
    ? mounts
        .filter((m) => dir.startsWith(`${trimSlash(m.target)}/`))
        .sort((a, b) => b.target.length - a.target.length)[0]
    : undefined;
  if (dir && parent) return { workspace: parent, workspaceDir: dir, state };
  const split = wanted ? undefined : splitState(name, mounts);
  if (split) throw new InjectError(split, where);
  throw new InjectError(
    `${servicePath(name, "volumes")}: no workspace mount ${wanted ? `at ${JSON.stringify(wanted)} (label clawguard.workspace)` : "(a target ending in /workspace, or a state mount ending in /.openclaw that holds it)"}; the sidecar watches the agent's workspace. ${ownMount(name, service)}`,
    where,
  );
}

/**
 * The advice for a state split into mounts inside `.openclaw` (openclaw/openclaw's own
 * deploy/docker-compose.yml: openclaw.json, cron/, state/, whatsapp/ each mounted alone): the
 * workspace, OpenClaw's default `<home>/workspace`, is then on none of them, in the container's own
 * filesystem, which the sidecar cannot share. Undefined when the mounts are not laid out so.
 */
function splitState(name: string, mounts: readonly Mount[]): string | undefined {
  const inside = mounts.filter((m) => /\/\.openclaw\/./.test(m.target));
  const home = inside[0]?.target.replace(/(\/\.openclaw)\/.*$/, "$1");
  if (!home) return undefined;
  const parts = inside
    .filter((m) => m.target.startsWith(`${home}/`))
    .map((m) => m.target.slice(home.length + 1));
  return `${servicePath(name, "volumes")}: its OpenClaw state is split into mounts inside ${home} (${parts.join(", ")}), and its workspace, OpenClaw's default ${home}/workspace, is on none of them: it is in the container's own filesystem, which the sidecar cannot share. Mount a volume there ("- ${name}-workspace:${home}/workspace", and ${name}-workspace under the top-level volumes), or set the label clawguard.workspace to a mounted folder OpenClaw uses as its workspace`;
}

export const isAgent = (d: Agent | Skipped | undefined): d is Agent => d !== undefined && "role" in d;

/** The value of `key` in a block map, with its pair. */
export function pairOf(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => isScalar(p.key) && p.key.value === key) as Pair | undefined;
}

export { isMap, isSeq };
