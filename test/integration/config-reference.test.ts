import { readFileSync } from "node:fs";
import { collectorSchema } from "@clawguard/collector/config";
import { sidecarSchema } from "@clawguard/sidecar/config";
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

/** The keys named in the first column of the README's table after `heading`, braces expanded. */
function readmeKeys(heading: string): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const from = readme.indexOf(`\n${heading}\n`);
  const table = readme.slice(from).split("\n\n")[1] ?? "";
  const keys: string[] = [];
  for (const row of table.split("\n").slice(2)) {
    const cell = row.split(" | ")[0]?.replace(/^\| /, "") ?? "";
    for (const [, key] of cell.matchAll(/`([^`]+)`/g)) {
      const brace = /^(.*)\{([^}]+)\}(.*)$/.exec(key as string);
      if (brace)
        for (const part of (brace[2] as string).split(",")) keys.push(`${brace[1]}${part.trim()}${brace[3]}`);
      else keys.push(key as string);
    }
  }
  return keys;
}

const covers = (row: string, key: string) =>
  key === row || key.startsWith(`${row}.`) || key.startsWith(`${row}[]`);

describe.each([
  ["Sidecar:", sidecarSchema],
  ["Collector:", collectorSchema],
] as const)("the README's %s table", (heading, schema) => {
  const keys = keysOf(schema as z.ZodType);
  const rows = readmeKeys(heading);

  it("has a row for every key the schema takes", () => {
    expect(keys.length).toBeGreaterThan(40);
    expect(keys.filter((k) => !rows.some((r) => covers(r, k)))).toEqual([]);
  });

  it("names no key the schema does not take", () => {
    expect(rows.filter((r) => !keys.some((k) => covers(r, k)))).toEqual([]);
  });
});
