import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import { type Agent, pairOf } from "./detect.ts";
import { columnAt, LINE, type Lines, lastLineOf, lineAt } from "./text.ts";

/**
 * `CLAWGUARD_WORKSPACE` in the agent's own environment: the agent-side `clawguard exec` finds the
 * workspace by walking up from its working directory to a `.clawguard` folder, so a command run
 * from `/` or `/tmp` only warned and its events went to an inbox no sidecar reads. With the
 * variable set to the workspace's path in the container, exec from any folder is guarded and
 * attributed. Inject adds it as marked lines, so `--remove` takes them out byte for byte.
 */
export const WORKSPACE_VAR = "CLAWGUARD_WORKSPACE";

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

/** `environment` with the workspace variable added, for a service inject writes whole (the standby). */
export function withWorkspace(environment: unknown, dir: string): unknown {
  if (envValue(environment, WORKSPACE_VAR) !== undefined) return environment;
  if (Array.isArray(environment)) return [...environment, `${WORKSPACE_VAR}=${dir}`];
  const own = environment && typeof environment === "object" ? environment : {};
  return { ...own, [WORKSPACE_VAR]: dir };
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
 * How `CLAWGUARD_WORKSPACE` gets into the agent's environment: a line added to its own block map
 * or list, or a new `environment` key (merging an inherited one through its anchor). Left alone,
 * with a note, where it is set already or where lines cannot be added (a flow collection, an
 * alias, an inherited environment without an anchor).
 */
export function workspaceEnv(
  doc: Document,
  lines: Lines,
  unit: number,
  agent: Agent,
  service: { map: YAMLMap; js: Record<string, unknown> },
  at: Anchor,
): EnvPlan {
  const dir = agent.workspaceDir;
  const set = envValue(service.js.environment, WORKSPACE_VAR);
  const added = `sets ${WORKSPACE_VAR}=${dir} (clawguard exec from any folder is guarded)`;
  const byHand = (why: string) => ({
    note: `${why}: add ${WORKSPACE_VAR}=${dir} to it, or clawguard exec run outside the workspace only warns`,
  });
  if (set !== undefined) {
    return {
      note:
        set === dir
          ? `${WORKSPACE_VAR} already set`
          : `keeps its own ${WORKSPACE_VAR}${set === null ? "" : `=${set}`} (the workspace is ${dir})`,
    };
  }
  const pair = pairOf(service.map, "environment");
  if (!pair) {
    const anchor = service.js.environment === undefined ? undefined : inheritedAnchor(doc, service.map);
    if (anchor === null) return byHand("its environment comes through << without an anchor");
    const pad = " ".repeat(at.column + unit);
    const body = [
      `${" ".repeat(at.column)}environment:${LINE}`,
      ...(anchor ? [`${pad}<<: *${anchor}${LINE}`] : []),
      `${pad}${WORKSPACE_VAR}: ${scalar(dir)}${LINE}`,
    ];
    return { insert: { after: at.after, lines: body }, note: added };
  }
  const value = pair.value;
  if (isMap(value) && !value.flow && value.items.length > 0) {
    const column = columnAt(lines, range(value.items[0]?.key)[0]);
    const line = `${" ".repeat(column)}${WORKSPACE_VAR}: ${scalar(dir)}${LINE}`;
    return { insert: { after: lastLineOf(lines, range(value)[1]), lines: [line] }, note: added };
  }
  if (isSeq(value) && !value.flow && value.items.length > 0) {
    const column = columnAt(lines, range(value)[0]);
    const line = `${" ".repeat(column)}- ${scalar(`${WORKSPACE_VAR}=${dir}`)}${LINE}`;
    return { insert: { after: lastLineOf(lines, range(value)[1]), lines: [line] }, note: added };
  }
  const keyStart = range(pair.key)[0];
  if (value === null || (isScalar(value) && value.value === null && range(value)[0] === range(value)[1])) {
    // `environment:` with nothing after it: the entry one level in, on the next line.
    const line = `${" ".repeat(columnAt(lines, keyStart) + unit)}${WORKSPACE_VAR}: ${scalar(dir)}${LINE}`;
    return { insert: { after: lineAt(lines, keyStart), lines: [line] }, note: added };
  }
  return byHand(
    `its environment is ${isAlias(value) ? "an alias" : isMap(value) || isSeq(value) ? "a flow collection" : "not a block map or list"}`,
  );
}
