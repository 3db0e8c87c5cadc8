import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { COLLECTOR_ENV, COLLECTOR_SECRET_ENV, collectorSchema } from "@clawguard/collector/config";
import { COLLECTOR_DOCS } from "@clawguard/collector/config-docs";
import { type ReferenceInput, renderReference } from "@clawguard/shared/config/reference";
import { SIDECAR_ENV, SIDECAR_SECRET_ENV, sidecarSchema } from "@clawguard/sidecar/config";
import { SIDECAR_DOCS } from "@clawguard/sidecar/config-docs";

/**
 * `pnpm docs:config`: the README's configuration tables, generated from the schemas and their doc
 * rows, written between `<!-- config-reference:<program>:start -->` and `...:end -->`.
 * `--check` writes nothing and exits 1 when the README differs; `--readme FILE` works on another copy.
 */

export const README = new URL("../../README.md", import.meta.url);

const PROGRAMS: Record<string, ReferenceInput> = {
  sidecar: { schema: sidecarSchema, envMap: SIDECAR_ENV, secretEnv: SIDECAR_SECRET_ENV, rows: SIDECAR_DOCS },
  collector: {
    schema: collectorSchema,
    envMap: COLLECTOR_ENV,
    secretEnv: COLLECTOR_SECRET_ENV,
    rows: COLLECTOR_DOCS,
  },
};

/** The README with each program's table regenerated; throws when a marker is missing. */
export function regenerate(readme: string): string {
  let out = readme;
  for (const [program, input] of Object.entries(PROGRAMS)) {
    const start = `<!-- config-reference:${program}:start -->\n`;
    const end = `<!-- config-reference:${program}:end -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end, from);
    if (from < 0 || to < 0) throw new Error(`README.md: no ${start.trim()} ... ${end} markers`);
    out = `${out.slice(0, from + start.length)}${renderReference(input)}${out.slice(to)}`;
  }
  return out;
}

/** The lines that differ, `-` the README's and `+` the generated, with their line numbers. */
export function describeDiff(actual: string, expected: string): string {
  const a = actual.split("\n");
  const b = expected.split("\n");
  const lines: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && lines.length < 40; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] !== undefined) lines.push(`README.md:${i + 1}\n- ${a[i]}`);
    if (b[i] !== undefined) lines.push(`+ ${b[i]}`);
  }
  return lines.join("\n");
}

function main(args: string[]): number {
  let values: { check?: boolean; readme?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { check: { type: "boolean" }, readme: { type: "string" } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(
      `docs:config: ${(err as Error).message}\nUsage: pnpm docs:config [--check] [--readme FILE]\n`,
    );
    return 2;
  }
  const file = values.readme ?? README;
  const check = values.check === true;
  const readme = readFileSync(file, "utf8");
  let generated: string;
  try {
    generated = regenerate(readme);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  if (generated === readme) {
    process.stdout.write("README.md: the configuration reference is up to date\n");
    return 0;
  }
  if (check) {
    process.stderr.write(
      `README.md: the configuration reference differs from the schemas:\n${describeDiff(readme, generated)}\nrun pnpm docs:config\n`,
    );
    return 1;
  }
  writeFileSync(file, generated);
  process.stdout.write("README.md: configuration reference written\n");
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
