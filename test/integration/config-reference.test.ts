import { readdirSync, readFileSync } from "node:fs";
import { COLLECTOR_ENV, collectorSchema } from "@clawguard/collector/config";
import { SIDECAR_ENV, sidecarSchema } from "@clawguard/sidecar/config";
import { describe, expect, it } from "vitest";
import { z } from "zod";

/**
 * The README's configuration tables and the zod schemas (the single source of every key) agree:
 * each key a schema takes has a row, and each row names keys a schema takes.
 */
interface Json {
  properties?: Record<string, Json>;
  additionalProperties?: Json | boolean;
  items?: Json;
}

/** Every settable key of a schema: `a.b`, a record's `a.<id>.b`, an array's `a[].b`; a secret reference ({env}|{file}) is one key. */
function keysOf(schema: z.ZodType): string[] {
  const out: string[] = [];
  const walk = (j: Json, path: string) => {
    const props = j.properties;
    if (props && !(Object.keys(props).length === 1 && ("env" in props || "file" in props))) {
      if ("env" in props && "file" in props && Object.keys(props).length === 2) return void out.push(path);
      for (const [k, v] of Object.entries(props)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    const record = j.additionalProperties;
    if (record && typeof record === "object" && record.properties) return walk(record, `${path}.<id>`);
    if (j.items?.properties) return walk(j.items, `${path}[]`);
    out.push(path);
  };
  walk(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json, "");
  return out.map((k) => k.replace(/\.(env|file)$/, ""));
}

/** One row of a README table: its keys (braces expanded), its env names, one default cell per key. */
interface Row {
  keys: string[];
  env: string[];
  defaults: string[];
}

/** `a, b` at the top level of a cell: not inside backticks or parentheses. */
function topLevelParts(cell: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let code = false;
  let from = 0;
  for (let i = 0; i < cell.length; i++) {
    const c = cell[i];
    if (c === "`") code = !code;
    else if (!code && c === "(") depth++;
    else if (!code && c === ")") depth--;
    else if (!code && depth === 0 && c === "," && cell[i + 1] === " ") {
      parts.push(cell.slice(from, i).trim());
      from = i + 2;
    }
  }
  parts.push(cell.slice(from).trim());
  return parts;
}

/** The rows of the README's table after `heading` (cells split at unescaped `|`). */
function readmeRows(heading: string): Row[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const from = readme.indexOf(`\n${heading}\n`);
  const table = readme.slice(from).split("\n\n")[1] ?? "";
  return table
    .split("\n")
    .slice(2)
    .map((line) => {
      const cells = line
        .trim()
        .replace(/^\|/, "")
        .replace(/\|$/, "")
        .split(/(?<!\\)\|/)
        .map((c) => c.trim());
      const keys: string[] = [];
      for (const [, key] of (cells[0] ?? "").matchAll(/`([^`]+)`/g)) {
        const brace = /^(.*)\{([^}]+)\}(.*)$/.exec(key as string);
        if (brace)
          for (const part of (brace[2] as string).split(","))
            keys.push(`${brace[1]}${part.trim()}${brace[3]}`);
        else keys.push(key as string);
      }
      const env = [...(cells[1] ?? "").matchAll(/`([^`]+)`/g)].map((m) =>
        (m[1] as string).replace(/\(_FILE\)$/, ""),
      );
      const parts = topLevelParts(cells[2] ?? "");
      const defaults = keys.map(
        (_, i) => (parts.length === keys.length ? parts[i] : parts.join(", ")) as string,
      );
      return { keys, env, defaults };
    });
}

const covers = (row: string, key: string) =>
  key === row || key.startsWith(`${row}.`) || key.startsWith(`${row}[]`);

const SIZE = /^(\d+(?:\.\d+)?)(KiB|MiB|GiB)$/;

/**
 * The value a default cell states, or undefined when it is prose ("none", "hostname", "from ...")
 * or a pattern (`<stateDir>/spool`, `$XDG_STATE_HOME/...`): a cell that starts with a literal.
 */
function statedDefault(cell: string): { value: unknown } | undefined {
  const literal = /^`([^`]+)`/.exec(cell)?.[1];
  if (literal === undefined || /[<$~]/.test(literal)) return undefined;
  const size = SIZE.exec(literal);
  if (size)
    return { value: Number(size[1]) * 1024 ** (["KiB", "MiB", "GiB"].indexOf(size[2] as string) + 1) };
  try {
    return { value: JSON.parse(literal) };
  } catch {
    return { value: literal };
  }
}

const at = (config: unknown, key: string): unknown =>
  key
    .split(".")
    .reduce<unknown>(
      (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
      config,
    );

/** The defaults the JSON schema shows, by key: those of objects `parse({})` leaves out (a union's branch). */
function schemaDefaults(schema: z.ZodType): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (j: Json & { default?: unknown; anyOf?: Json[] }, path: string) => {
    if (j.default !== undefined && path) out.set(path, j.default);
    for (const [k, v] of Object.entries(j.properties ?? {})) walk(v, path ? `${path}.${k}` : k);
    for (const branch of j.anyOf ?? []) walk(branch, path);
  };
  walk(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json, "");
  return out;
}

/** Defaults computed at start, stated in prose: the machine's hostname. */
const COMPUTED = new Set(["host"]);

/** A package's sources (not its tests), for the secret fallbacks named only where they are read. */
function sourcesOf(dir: string): string {
  const root = new URL(`../../${dir}/src/`, import.meta.url);
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .map((f) => readFileSync(new URL(f, root), "utf8"))
    .join("\n");
}

describe.each([
  ["Sidecar:", sidecarSchema, SIDECAR_ENV, "sidecar"],
  ["Collector:", collectorSchema, COLLECTOR_ENV, "collector"],
] as const)("the README's %s table", (heading, schema, envMap, pkg) => {
  const keys = keysOf(schema as z.ZodType);
  const table = readmeRows(heading);
  const rows = table.flatMap((r) => r.keys);

  it("has a row for every key the schema takes", () => {
    expect(keys.length).toBeGreaterThan(40);
    expect(keys.filter((k) => !rows.some((r) => covers(r, k)))).toEqual([]);
  });

  it("names no key the schema does not take", () => {
    expect(rows.filter((r) => !keys.some((k) => covers(r, k)))).toEqual([]);
  });

  it("states each default the schema applies, and none it does not", () => {
    const defaults = (schema as z.ZodType).parse({});
    const fromSchema = schemaDefaults(schema as z.ZodType);
    const wrong: string[] = [];
    for (const row of table) {
      row.keys.forEach((key, i) => {
        if (/<id>|\[\]/.test(key)) return;
        const actual = at(defaults, key) ?? fromSchema.get(key);
        const stated = statedDefault(row.defaults[i] as string);
        if (stated === undefined) {
          if (actual !== undefined && typeof actual !== "object" && !COMPUTED.has(key))
            wrong.push(
              `${key}: README says "${row.defaults[i]}", the schema's default is ${JSON.stringify(actual)}`,
            );
        } else if (JSON.stringify(stated.value) !== JSON.stringify(actual)) {
          wrong.push(
            `${key}: README says ${JSON.stringify(stated.value)}, the schema's default is ${JSON.stringify(actual)}`,
          );
        }
      });
    }
    expect(wrong).toEqual([]);
  });

  it("lists each environment variable in the row of the key it sets, and no other", () => {
    const wrong: string[] = [];
    for (const [name, key] of Object.entries(envMap)) {
      const row = table.find((r) => r.keys.some((k) => covers(k, key) || k === key));
      if (!row?.env.includes(name)) wrong.push(`${name} (sets ${key}) is not in ${key}'s row`);
    }
    const sources = sourcesOf(pkg);
    for (const row of table) {
      for (const name of row.env) {
        const key = envMap[name];
        if (key === undefined) {
          // A secret's fallback variable (NAME, NAME_FILE), read where the secret is resolved.
          if (!sources.includes(`"${name}"`))
            wrong.push(`${name} (row ${row.keys.join(", ")}) is read nowhere`);
        } else if (!row.keys.some((k) => covers(k, key)))
          wrong.push(`${name} sets ${key}, not ${row.keys.join(", ")}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
