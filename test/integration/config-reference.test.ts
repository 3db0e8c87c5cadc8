import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { describeDiff, README, regenerate } from "../support/docs-config.ts";

/**
 * The README's configuration tables are generated from the zod schemas and their doc rows
 * (`pnpm docs:config`): the copy in the README is the one the schemas make today. That the rows
 * name every key, no key the schema lacks, and no default the schema does not apply is the
 * generator's own check (shared/src/config/reference.test.ts).
 */
const run = promisify(execFile);
const NODE = process.execPath;
const SCRIPT = new URL("../support/docs-config.ts", import.meta.url).pathname;

describe("the README's configuration reference", () => {
  it("is the one the schemas generate (else: run pnpm docs:config)", () => {
    const readme = readFileSync(README, "utf8");
    const generated = regenerate(readme);
    if (generated !== readme) {
      expect.fail(
        `README.md's configuration tables differ from the schemas:\n${describeDiff(readme, generated)}\nrun pnpm docs:config`,
      );
    }
    expect(readme).toContain("<!-- config-reference:sidecar:start -->\n| key | type | env | default |");
    expect(readme).toContain("<!-- config-reference:collector:start -->\n| key | type | env | default |");
  });

  describe("pnpm docs:config", () => {
    const dir = mkdtempSync(join(tmpdir(), "clawguard-docs-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("--check exits 1 on a stale copy, naming the line and the command; without --check it rewrites it", async () => {
      const file = join(dir, "README.md");
      const readme = readFileSync(README, "utf8");
      const stale = readme.replace(
        "| `exec.killGraceMs` | integer | | `5000` |",
        "| `exec.killGraceMs` | integer | | `4000` |",
      );
      expect(stale).not.toBe(readme);
      writeFileSync(file, stale);
      const failed = await run(NODE, [SCRIPT, "--check", "--readme", file]).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toContain("- | `exec.killGraceMs` | integer | | `4000` |");
      expect(failed?.stderr).toContain("+ | `exec.killGraceMs` | integer | | `5000` |");
      expect(failed?.stderr).toContain("run pnpm docs:config");
      expect(readFileSync(file, "utf8")).toBe(stale);

      await run(NODE, [SCRIPT, "--readme", file]);
      expect(readFileSync(file, "utf8")).toBe(readme);
      const { stdout } = await run(NODE, [SCRIPT, "--check", "--readme", file]);
      expect(stdout).toContain("up to date");
    });

    it("refuses a README without the markers (exit 1) and an unknown flag (exit 2)", async () => {
      const file = join(dir, "no-markers.md");
      writeFileSync(file, "# README\n");
      const missing = await run(NODE, [SCRIPT, "--check", "--readme", file]).catch((e) => e);
      expect([missing.code, missing.stderr]).toEqual([
        1,
        expect.stringContaining("config-reference:sidecar:start"),
      ]);
      const unknown = await run(NODE, [SCRIPT, "--bogus"]).catch((e) => e);
      expect(unknown.code).toBe(2);
    });
  });
});
