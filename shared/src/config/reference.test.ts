import { describe, expect, it } from "vitest";
import { z } from "zod";
import { bytes, int, secretRef } from "./fields.ts";
import { checkRows, type DocRow, renderReference, schemaKeys } from "./reference.ts";

const schema = z.strictObject({
  name: z.string().default("main"),
  sizeBytes: bytes(1024).default(64 * 1024 * 1024),
  waitMs: int(0).default(900_000),
  token: secretRef.optional(),
  mode: z.enum(["a", "b"]).default("a"),
  items: z.array(z.strictObject({ id: z.string(), weight: int(1).optional() })).default([]),
  nested: z.strictObject({ on: z.boolean().default(true) }).prefault({}),
});

const rows: DocRow[] = [
  { keys: ["name"], text: "the name" },
  { keys: ["sizeBytes", "waitMs"], text: "how much, how long" },
  { keys: ["token"], text: "the token", default: "generated" },
  { keys: ["mode"], text: "the mode" },
  { keys: ["items"], text: "the items" },
  { keys: ["items[].weight"], text: "an item's weight" },
  { keys: ["nested.on"], text: "on or off" },
];
const input = { schema, envMap: { APP_NAME: "name" }, secretEnv: { token: "APP_TOKEN" }, rows };

describe("the config reference", () => {
  it("lists each key with its type and default, through defaults, optionals and preprocessing", () => {
    const keys = Object.fromEntries(schemaKeys(schema).map((k) => [k.key, k]));
    expect(keys.sizeBytes).toMatchObject({ type: "bytes", default: { value: 64 * 1024 * 1024 } });
    expect(keys.waitMs?.type).toBe("integer");
    expect(keys.token).toMatchObject({ type: "secret", optional: true });
    expect(keys["token.env"]).toBeUndefined();
    expect(keys["items[].weight"]).toMatchObject({ type: "integer", optional: true });
    expect(keys["nested.on"]?.default).toEqual({ value: true });
  });

  it("renders one line per row, with the env variables and the defaults the schema applies", () => {
    const table = renderReference(input).split("\n");
    expect(table).toContain("| `name` | string | `APP_NAME` | `main` | the name |");
    expect(table).toContain(
      "| `sizeBytes`, `waitMs` | bytes, integer | | `64MiB`, `900000` (15 min) | how much, how long |",
    );
    expect(table).toContain("| `token` | secret | `APP_TOKEN(_FILE)` | generated | the token |");
    expect(table).toContain("| `mode` | `a` \\| `b` | | `a` | the mode |");
  });

  it("refuses a key without a row, a row without a key, a stated default the schema does not apply, and a blank row", () => {
    expect(checkRows(input)).toEqual([]);
    const bad: DocRow[] = [
      ...rows.filter((r) => r.keys[0] !== "nested.on" && r.keys[0] !== "mode"),
      { keys: ["mode"], text: "the mode", default: "`b`" },
      { keys: ["nested.off"], text: " " },
    ];
    expect(checkRows({ ...input, rows: bad, envMap: { APP_GONE: "gone" } })).toEqual([
      "mode: the row states its default in words, but the schema applies mode's: drop `default` (or use `defaultNote`)",
      "nested.off: documented, but the schema has no such key",
      "nested.on: not documented (add it to a doc row)",
      "nested.off: no description",
      "APP_GONE: sets gone, which the schema does not take",
    ]);
    expect(() => renderReference({ ...input, rows: bad })).toThrow(/nested\.on: not documented/);
  });
});
