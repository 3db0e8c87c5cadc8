import type { z } from "zod";
import { fieldKinds } from "./fields.ts";
import type { EnvMap } from "./load.ts";

/**
 * The config reference generated from a program's schema: every key with its type, its default, the
 * environment variables that set it and what it does. The schema says the first three; the words
 * come from the program's doc rows (`config-docs.ts` beside its `config.ts`), and a key without
 * words, or words for a key the schema does not take, is an error here, not a stale README.
 */

/** A key the schema takes: `a.b`, a record's `a.<id>.b`, an array's `a[].b`. */
export interface SchemaKey {
  key: string;
  type: string;
  /** Set when the schema applies a default (evaluated once, when the schema was built). */
  default?: { value: unknown };
  optional: boolean;
  /** An object, record or list of objects: a doc row may cover it whole. */
  children: boolean;
}

/** One row of the reference: the words of the README's table, beside the schema. */
export interface DocRow {
  /** The keys the row explains, in order; a key covers the keys under it (`probe.probes`). */
  keys: string[];
  text: string;
  /**
   * The default in words, for keys whose schema applies none (`from openclawConfig`, `none: ...`),
   * or whose default is computed at start (`computed`). One cell for the whole row.
   */
  default?: string;
  /** Said after the schema's default(s): `(agent-side commands: nearest folder ...)`. */
  defaultNote?: string;
  /** The schema's default is computed at start (the hostname): `default` says it instead. */
  computed?: boolean;
}

export interface ReferenceInput {
  schema: z.ZodType;
  envMap: EnvMap;
  /** By key, the variable a secret falls back to (NAME, then the file NAME_FILE names). */
  secretEnv: Readonly<Record<string, string>>;
  rows: readonly DocRow[];
}

type Def = { type: string; [k: string]: unknown };
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;
/** `z.url()`'s format, or that of a check such as `.int()`'s `safeint`. */
const formatsOf = (def: Def): unknown[] => [
  def.format,
  ...((def.checks as { _zod: { def: { format?: unknown } } }[] | undefined) ?? []).map(
    (c) => c._zod.def.format,
  ),
];

interface Node {
  schema: unknown;
  default?: { value: unknown };
  optional: boolean;
  kind?: string;
}

/** Through default, optional, preprocess and the like, to the type that validates. */
function unwrap(schema: unknown): Node {
  const node: Node = { schema, optional: false };
  for (;;) {
    node.kind ??= fieldKinds.get(node.schema as z.ZodType)?.kind;
    const def = defOf(node.schema);
    if (def.type === "default") {
      node.default ??= { value: structuredClone(def.defaultValue) };
      node.schema = def.innerType;
    } else if (def.type === "optional" || def.type === "nullable") {
      node.optional = true;
      node.schema = def.innerType;
    } else if (def.type === "prefault" || def.type === "readonly" || def.type === "catch") {
      node.schema = def.innerType;
    } else if (def.type === "pipe") {
      // z.preprocess is a transform piped into the type; `.transform()` the type piped into one.
      node.schema = defOf(def.in).type === "transform" ? def.out : def.in;
    } else return node;
  }
}

function isObject(schema: unknown): boolean {
  return defOf(schema).type === "object" && fieldKinds.get(schema as z.ZodType)?.kind !== "secret";
}

function typeOf(node: Node): string {
  if (node.kind) return node.kind;
  const def = defOf(node.schema);
  switch (def.type) {
    case "number":
      return formatsOf(def).includes("safeint") ? "integer" : "number";
    case "string":
      return formatsOf(def).includes("url") ? "URL" : "string";
    case "enum":
      return Object.values(def.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(" \\| ");
    case "literal":
      return (def.values as unknown[]).map((v) => `\`${String(v)}\``).join(" \\| ");
    case "array": {
      const item = unwrap(def.element);
      return isObject(item.schema) || defOf(item.schema).type === "union"
        ? "list"
        : `list of ${typeOf(item)}`;
    }
    case "record":
      return "map";
    case "union":
      return "object";
    default:
      return def.type;
  }
}

/** The object branches of a union (a `kind`-discriminated actuator, a probe), keys merged. */
function shapesOf(schema: unknown): Record<string, unknown>[] {
  const def = defOf(schema);
  if (def.type === "object" && isObject(schema)) return [def.shape as Record<string, unknown>];
  if (def.type === "union") return (def.options as unknown[]).flatMap((o) => shapesOf(unwrap(o).schema));
  return [];
}

/** A key in several branches of a union: `http` \| `chat`, or `string or list of string`. */
function mergeTypes(a: string, b: string): string {
  if (a === b || a.split(/ \\\| | or /).includes(b)) return a;
  return a.startsWith("`") && b.startsWith("`") ? `${a} \\| ${b}` : `${a} or ${b}`;
}

/** Where a node's keys are: its own object (or union's objects), or those of its list's or map's values. */
function shapesUnder(node: Node, key: string): { shapes: Record<string, unknown>[]; prefix: string } {
  const def = defOf(node.schema);
  if (def.type === "array") return { shapes: shapesOf(unwrap(def.element).schema), prefix: `${key}[]` };
  if (def.type === "record") return { shapes: shapesOf(unwrap(def.valueType).schema), prefix: `${key}.<id>` };
  return { shapes: shapesOf(node.schema), prefix: key };
}

/** A key seen again (in another branch of a union): the types merged, a default from either. */
function merge(seen: SchemaKey | undefined, key: SchemaKey): SchemaKey {
  if (!seen) return key;
  const fallback = key.default ?? seen.default;
  return {
    ...key,
    type: mergeTypes(seen.type, key.type),
    ...(fallback ? { default: fallback } : {}),
    optional: key.optional || seen.optional,
  };
}

/** Every key of `schema`, parents before children, in the schema's order. */
export function schemaKeys(schema: z.ZodType): SchemaKey[] {
  const out = new Map<string, SchemaKey>();
  const walk = (raw: unknown, key: string) => {
    const node = unwrap(raw);
    const { shapes, prefix } = shapesUnder(node, key);
    if (key) {
      const found: SchemaKey = {
        key,
        type: typeOf(node),
        ...(node.default ? { default: node.default } : {}),
        optional: node.optional,
        children: shapes.length > 0,
      };
      out.set(key, merge(out.get(key), found));
    }
    for (const shape of shapes)
      for (const [name, child] of Object.entries(shape)) walk(child, prefix ? `${prefix}.${name}` : name);
  };
  walk(schema, "");
  return [...out.values()];
}

const UNITS = [
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
] as const;

const SPANS = [
  ["days", 86_400_000],
  ["h", 3_600_000],
  ["min", 60_000],
] as const;

/** A default as the README writes it: `64MiB`, `1800000` (30 min), `["a","b"]`, `[]`. */
export function formatDefault(key: SchemaKey, value: unknown): string {
  if (key.type === "bytes" && typeof value === "number") {
    const unit = UNITS.find(([, size]) => value >= size && value % size === 0);
    if (unit) return `\`${value / unit[1]}${unit[0]}\``;
  }
  const literal = `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;
  if (typeof value === "number" && /Ms$/.test(key.key) && value >= 60_000) {
    const span = SPANS.find(([, ms]) => value % ms === 0);
    if (span) {
      const n = value / span[1];
      return `${literal} (${n} ${span[0] === "days" && n === 1 ? "day" : span[0]})`;
    }
  }
  return literal;
}

const covers = (row: string, key: string) =>
  key === row || key.startsWith(`${row}.`) || key.startsWith(`${row}[]`);

/** `a.b.x`, `a.b.y` as `a.b.{x, y}`; keys with different parents listed apart. */
function keysCell(keys: readonly string[]): string {
  const parent = (k: string) => k.slice(0, k.lastIndexOf(".") + 1);
  const first = parent(keys[0] as string);
  if (keys.length > 1 && first && keys.every((k) => parent(k) === first && !k.includes("[]", first.length)))
    return `\`${first}{${keys.map((k) => k.slice(first.length)).join(", ")}}\``;
  return keys.map((k) => `\`${k}\``).join(", ");
}

function defaultCell(row: DocRow, keys: SchemaKey[]): string {
  const stated = keys.map((k) =>
    k.default ? formatDefault(k, k.default.value) : k.optional || k.children ? "none" : "required",
  );
  const schemaless = keys.every((k) => !k.default);
  const base = row.default !== undefined && (schemaless || row.computed) ? row.default : stated.join(", ");
  return row.defaultNote ? `${base} ${row.defaultNote}` : base;
}

/** Every fault of the doc rows against the schema: each one a sentence naming the key. */
export function checkRows(input: ReferenceInput): string[] {
  const keys = schemaKeys(input.schema);
  const byKey = new Map(keys.map((k) => [k.key, k]));
  const problems: string[] = [];
  const documented = input.rows.flatMap((r) => r.keys);
  for (const row of input.rows) {
    for (const key of row.keys)
      if (!byKey.has(key)) problems.push(`${key}: documented, but the schema has no such key`);
    const withDefault = row.keys.filter((k) => byKey.get(k)?.default);
    if (row.default !== undefined && withDefault.length > 0 && !row.computed)
      problems.push(
        `${row.keys.join(", ")}: the row states its default in words, but the schema applies ${withDefault.join(", ")}'s: drop \`default\` (or use \`defaultNote\`)`,
      );
  }
  for (const key of keys) {
    // A row's key covers what is under it, unless a row of its own explains that part.
    if (!key.children && !documented.some((d) => covers(d, key.key)))
      problems.push(`${key.key}: not documented (add it to a doc row)`);
    if (documented.filter((d) => d === key.key).length > 1)
      problems.push(`${key.key}: documented by more than one row`);
  }
  for (const row of input.rows) if (!row.text.trim()) problems.push(`${row.keys.join(", ")}: no description`);
  const envs = [
    ...Object.entries(input.envMap),
    ...Object.entries(input.secretEnv).map(([k, n]) => [n, k] as const),
  ];
  for (const [name, key] of envs)
    if (!byKey.has(key)) problems.push(`${name}: sets ${key}, which the schema does not take`);
  return problems;
}

/** The markdown table: one line per doc row, in the rows' order. Throws on any fault of the rows. */
export function renderReference(input: ReferenceInput): string {
  const problems = checkRows(input);
  if (problems.length > 0) throw new Error(`config reference:\n  - ${problems.join("\n  - ")}`);
  const byKey = new Map(schemaKeys(input.schema).map((k) => [k.key, k]));
  const lines = ["| key | type | env | default | |", "|---|---|---|---|---|"];
  for (const row of input.rows) {
    const keys = row.keys.map((k) => byKey.get(k) as SchemaKey);
    const types = [...new Set(keys.map((k) => k.type))].join(", ");
    const envCell = row.keys
      .flatMap((k) => [
        ...Object.keys(input.envMap).filter((name) => input.envMap[name] === k),
        ...(input.secretEnv[k] ? [`${input.secretEnv[k]}(_FILE)`] : []),
      ])
      .map((name) => `\`${name}\``)
      .join(", ");
    const cells = [keysCell(row.keys), types, envCell, defaultCell(row, keys), row.text];
    lines.push(`|${cells.map((c) => (c ? ` ${c} ` : " ")).join("|")}|`);
  }
  return `${lines.join("\n")}\n`;
}
