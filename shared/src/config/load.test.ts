import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { tempDir } from "../testing.ts";
import { bytes, int, secretRef } from "./fields.ts";
import { loadConfig, resolveSecret } from "./load.ts";

const schema = z.strictObject({
  name: z.string().default("main"),
  spool: z.strictObject({ maxBytes: bytes(1024).default(4096), fsyncMs: int(1).default(10) }).prefault({}),
  token: secretRef.optional(),
});
const envMap = { CG_NAME: "name", CG_SPOOL_MAX: "spool.maxBytes" };
const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});
function file(text: string): string {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir.path, "c.yaml");
  writeFileSync(path, text);
  return path;
}

describe("loadConfig", () => {
  it("layers defaults < file < env and freezes the result", () => {
    const config = loadConfig({
      schema,
      program: "t",
      file: file("name: fromfile\nspool:\n  maxBytes: 64KiB\n"),
      env: { CG_SPOOL_MAX: "2MiB" },
      envMap,
    });
    expect(config).toEqual({ name: "fromfile", spool: { maxBytes: 2 * 1024 * 1024, fsyncMs: 10 } });
    expect(Object.isFrozen(config.spool)).toBe(true);
  });

  it("lists every problem with its path and the value it got", () => {
    const run = () =>
      loadConfig({
        schema,
        program: "sidecar",
        file: file("spool:\n  maxBytes: 1G\n  fsyncMs: 0\n  typo: 1\nextra: true\n"),
        env: {},
        envMap,
      });
    expect(run).toThrowError(/has 4 problems/);
    try {
      run();
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toContain(
        'spool.maxBytes: expected a byte size >= 1024 (e.g. 51200 or "64KiB"), got "1G"',
      );
      expect(message).toContain("spool.fsyncMs: expected an integer >= 1, got 0");
      expect(message).toMatch(/^ {2}- spool\.typo: unknown key$/m); // nothing near it
      expect(message).toContain("extra: unknown key");
    }
  });

  it("says which key a typo meant: among its siblings, in nested objects too", () => {
    const run = (text: string) => () =>
      loadConfig({ schema, program: "t", file: file(text), env: {}, envMap });
    expect(run("spool:\n  fsynMs: 3\n  MAXBYTES: 2048\n")).toThrowError(
      /has 2 problems:\n {2}- spool\.fsynMs: unknown key: did you mean spool\.fsyncMs\?\n {2}- spool\.MAXBYTES: unknown key: did you mean spool\.maxBytes\?$/,
    );
    expect(run("nmae: x\n")).toThrowError(/has 1 problem:\n {2}- nmae: unknown key: did you mean name\?$/);
    expect(run("tokne: {}\n")).toThrowError(/tokne: unknown key: did you mean token\?/);
  });

  it("names the file and line when the YAML is broken", () => {
    expect(() =>
      loadConfig({ schema, program: "t", file: file("name: [unclosed\n"), env: {}, envMap }),
    ).toThrowError(/is not valid YAML/);
    expect(() =>
      loadConfig({ schema, program: "t", file: "/nonexistent/c.yaml", env: {}, envMap }),
    ).toThrowError(/cannot read \/nonexistent\/c.yaml/);
  });
});

describe("resolveSecret", () => {
  it("reads env, files, and NAME / NAME_FILE fallbacks without echoing the value", () => {
    const path = file("s3cret\n");
    expect(resolveSecret({ env: "X" }, { X: "v" }, "t")).toBe("v");
    expect(resolveSecret({ file: path }, {}, "t")).toBe("s3cret");
    expect(resolveSecret(undefined, { TOK_FILE: path }, "t", "TOK")).toBe("s3cret");
    expect(resolveSecret(undefined, {}, "t", "TOK")).toBeUndefined();
    expect(() => resolveSecret({ env: "MISSING" }, {}, "shipper.token")).toThrowError(
      "shipper.token: environment variable MISSING is not set",
    );
    expect(() => resolveSecret({ file: file("") }, {}, "t")).toThrowError(/is empty/);
  });
});
