import { chmodSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * Bundles the agent-side CLI (`exec`, `read`) into one self-contained ES module: what runs in the
 * agent's container with only Node, published by the sidecar on a shared volume. Plain JavaScript
 * (no type stripping at start) in one file starts faster and smaller than the TypeScript sources.
 */

export const AGENT_BUNDLE = fileURLToPath(new URL("../../../dist/clawguard-agent.mjs", import.meta.url));

export async function buildAgentBundle(outfile = AGENT_BUNDLE): Promise<{ outfile: string; bytes: number }> {
  const common = {
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  } as const;
  const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));
  await build({
    ...common,
    entryPoints: [src("../cli/agent.ts")],
    outfile, // agent.ts's own #! line stays first
  });
  // `read --grep` runs in a worker thread (a runaway pattern can be stopped): its module sits beside.
  await build({
    ...common,
    entryPoints: [src("../sources/exec-guard/grep-worker.ts")],
    outfile: join(dirname(outfile), "clawguard-agent-grep.mjs"),
  });
  chmodSync(outfile, 0o755);
  return { outfile, bytes: statSync(outfile).size };
}

if (import.meta.main) {
  const { outfile, bytes } = await buildAgentBundle(process.argv[2]);
  console.log(`built ${outfile} (${(bytes / 1024).toFixed(0)} KiB)`);
}
