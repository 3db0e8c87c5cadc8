import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import { type Agent, pairOf } from "./detect.ts";
import { columnAt, LINE, type Lines, lastLineOf, lineAt } from "./text.ts";

/**
 * `CLAWGUARD_WORKSPACE` (and `CLAWGUARD_AGENT`) in the agent's own environment: the agent-side `clawguard exec` finds the
 * workspace by walking up from its working directory to a `.clawguard` folder, so a command run
 * from `/` or `/tmp` only warned and its events went to an inbox no sidecar reads. With the
 * variable set to the workspace's path in the container, exec from any folder is guarded and
 * attributed. Inject adds it as marked lines, so `--remove` takes them out byte for byte.
 */
export const WORKSPACE_VAR = "CLAWGUARD_WORKSPACE";
/**
 * `CLAWGUARD_AGENT`, the agent's name (its service's, as its sidecar has it): without it the
 * agent-side file asks the sidecar on 127.0.0.1:18801, and under a load of 38 on 2 cores a
 * sidecar did not answer within 5 s, so that exec's events went to the default agent's inbox.
 */
export const AGENT_VAR = "CLAWGUARD_AGENT";

/** What to do for one agent: lines to insert after a line of the file, and what the report says. */
export interface EnvPlan {
  /** Inserted after the line of this index; none when the variable cannot be (or need not be) added. */
  insert?: { after: number; lines: string[] };
  note: string;
}

/** Where the service's `volumes` list is: new `environment` lines go after it, at its key's column. */
export interface Anchor {
  after: number;
  column: number;
}

const range = (node: unknown): [number, number, number] =>
  (node as { range?: [number, number, number] }).range ?? [0, 0, 0];

/** A value written plain when YAML reads it back as the same string, else double-quoted. */
const scalar = (s: string): string => (/^[A-Za-z0-9_/.][A-Za-z0-9_/.@+=-]*$/.test(s) ? s : JSON.stringify(s));

/** The value `environment` (map or `K=v` list, as plain data) gives `name`; null when listed without one. */
export function envValue(environment: unknown, name: string): string | null | undefined {
  if (Array.isArray(environment)) {
    for (const item of environment.map(String)) {
      if (item === name) return null;
      if (item.startsWith(`${name}=`)) return item.slice(name.length + 1);
    }
    return undefined;
  }
  if (environment && typeof environment === "object" && name in environment) {
    const v = (environment as Record<string, unknown>)[name];
    return v === null || v === undefined ? null : String(v);
  }
  return undefined;
}

/** `environment` with `vars` added where unset, for a service inject writes whole (the standby). */
export function withAgentVars(environment: unknown, vars: readonly [string, string][]): unknown {
  const missing = vars.filter(([name]) => envValue(environment, name) === undefined);
  if (Array.isArray(environment)) return [...environment, ...missing.map(([k, v]) => `${k}=${v}`)];
  const own = environment && typeof environment === "object" ? environment : {};
  return { ...own, ...Object.fromEntries(missing) };
}

/** A `<<` key: yaml reads it (with merge on) as a Scalar holding Symbol(<<). */
const isMergeKey = (key: unknown): boolean => {
  const v = isScalar(key) ? key.value : undefined;
  return v === "<<" || (typeof v === "symbol" && v.description === "<<");
};

/**
 * The anchor of the `environment` a service inherits through `<<` (the first source that has one
 * wins, as YAML merges), when it is a mapping that has one: a new `environment` on the service
 * then merges it (`<<: *anchor`) instead of replacing it. `null` when inherited without such an anchor.
 */
function inheritedAnchor(doc: Document, map: YAMLMap, depth = 0): string | null | undefined {
  if (depth > 20) return null;
  for (const source of mergeSources(doc, map)) {
    const env = pairOf(source, "environment")?.value;
    if (env !== undefined) return anchorOf(doc, env);
    const deeper = inheritedAnchor(doc, source, depth + 1);
    if (deeper !== undefined) return deeper;
  }
  return undefined;
}

/** The maps a mapping merges through `<<` (one, or a list), in order, aliases resolved. */
function mergeSources(doc: Document, map: YAMLMap): YAMLMap[] {
  const out: YAMLMap[] = [];
  for (const item of map.items) {
    if (!isMergeKey(item.key)) continue;
    for (const source of isSeq(item.value) ? item.value.items : [item.value]) {
      const node = isAlias(source) ? source.resolve(doc) : source;
      if (isMap(node)) out.push(node);
    }
  }
  return out;
}

/** The anchor naming a mapping `env` (written with one, or an alias of one); null when none does. */
function anchorOf(doc: Document, env: unknown): string | null {
  if (isAlias(env)) return isMap(env.resolve(doc)) ? env.source : null;
  return isMap(env) && (env as Node).anchor ? ((env as Node).anchor as string) : null;
}

/**
 * `CLAWGUARD_INBOX_DIR`: where the agent-side commands leave their drafts, on the agent's own
 * volume (INBOX_MOUNT) that only its container and its sidecar mount. In the shared workspace any
 * agent could drop a draft into another's inbox and have that one's sidecar seal it in its name.
 */
export const INBOX_VAR = "CLAWGUARD_INBOX_DIR";
/** Where each agent's inbox volume is mounted, in its container and its sidecar's. */
export const INBOX_MOUNT = "/var/spool/clawguard";
export const INBOX_DIR = `${INBOX_MOUNT}/inbox`;
export const inboxVolume = (service: string): string => `clawguard-inbox-${service}`;

/** The variables the agent-side `clawguard` of `service` (the agent, or its standby) needs. */
export const agentVars = (agent: Agent, service: string): [string, string][] => [
  [WORKSPACE_VAR, agent.workspaceDir],
  [AGENT_VAR, service],
  [INBOX_VAR, INBOX_DIR],
];

/** What the report says of variables the agent has set already (to another value: why that matters). */
function keptNotes(vars: readonly [string, string][], environment: unknown): string[] {
  const notes: string[] = [];
  for (const [name, want] of vars) {
    const set = envValue(environment, name);
    if (set === undefined || set === want) continue;
    notes.push(
      `keeps its own ${name}${set === null ? "" : `=${set}`} (${name === AGENT_VAR ? `its sidecar is for ${want}: exec's events under another name are set aside, not sealed` : name === INBOX_VAR ? `its sidecar reads ${want}: exec's events anywhere else are never read` : `the workspace is ${want}`})`,
    );
  }
  return notes;
}

/**
 * How `CLAWGUARD_WORKSPACE` and `CLAWGUARD_AGENT` get into the agent's environment: lines added
 * to its own block map or list, or a new `environment` key (merging an inherited one through its
 * anchor). Left alone, with a note, where they are set already or where lines cannot be added (a
 * flow collection, an alias, an inherited environment without an anchor).
 */
export function workspaceEnv(
  doc: Document,
  lines: Lines,
  unit: number,
  agent: Agent,
  service: { map: YAMLMap; js: Record<string, unknown> },
  at: Anchor,
): EnvPlan {
  const all = agentVars(agent, agent.name);
  const missing = all.filter(([name]) => envValue(service.js.environment, name) === undefined);
  const kept = keptNotes(all, service.js.environment);
  const said = (note: string) => [note, ...kept].join("; ");
  const listed = missing.map(([k, v]) => `${k}=${v}`).join(", ");
  const added = said(`sets ${listed} (clawguard exec from any folder is guarded and attributed)`);
  const byHand = (why: string) => ({
    note: said(
      `${why}: add ${listed} to it, or clawguard exec leaves its events where the sidecar does not read them`,
    ),
  });
  if (missing.length === 0)
    return { note: kept.length > 0 ? kept.join("; ") : `${all.map(([k]) => k).join(" and ")} already set` };
  const mapLines = (column: number) =>
    missing.map(([k, v]) => `${" ".repeat(column)}${k}: ${scalar(v)}${LINE}`);
  const pair = pairOf(service.map, "environment");
  if (!pair) {
    const anchor = service.js.environment === undefined ? undefined : inheritedAnchor(doc, service.map);
    if (anchor === null) return byHand("its environment comes through << without an anchor");
    const body = [
      `${" ".repeat(at.column)}environment:${LINE}`,
      ...(anchor ? [`${" ".repeat(at.column + unit)}<<: *${anchor}${LINE}`] : []),
      ...mapLines(at.column + unit),
    ];
    return { insert: { after: at.after, lines: body }, note: added };
  }
  const value = pair.value;
  if (isMap(value) && !value.flow && value.items.length > 0) {
    const column = columnAt(lines, range(value.items[0]?.key)[0]);
    return { insert: { after: lastLineOf(lines, range(value)[1]), lines: mapLines(column) }, note: added };
  }
  if (isSeq(value) && !value.flow && value.items.length > 0) {
    const pad = " ".repeat(columnAt(lines, range(value)[0]));
    const items = missing.map(([k, v]) => `${pad}- ${scalar(`${k}=${v}`)}${LINE}`);
    return { insert: { after: lastLineOf(lines, range(value)[1]), lines: items }, note: added };
  }
  const keyStart = range(pair.key)[0];
  if (value === null || (isScalar(value) && value.value === null && range(value)[0] === range(value)[1])) {
    // `environment:` with nothing after it: the entries one level in, on the next lines.
    const column = columnAt(lines, keyStart) + unit;
    return { insert: { after: lineAt(lines, keyStart), lines: mapLines(column) }, note: added };
  }
  return byHand(
    `its environment is ${isAlias(value) ? "an alias" : isMap(value) || isSeq(value) ? "a flow collection" : "not a block map or list"}`,
  );
}
