import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULTS } from "../inject/plan.ts";
import { bundleImage } from "./image-bundle.ts";

/**
 * `pnpm build:images`: the sidecar and collector images from the project's Dockerfiles, with no
 * network needed in the build. Each image's `/app` is bundled here (image-bundle.ts, from the
 * workspace `pnpm install` already made) into a context of its own beside the Dockerfiles, whose
 * build stage then takes it as it is; then `docker build` of each. The repository root is not that
 * context: its .dockerignore leaves `dist/` out (a stale bundle must never slip into an image), so
 * `docker build -f deploy/docker/sidecar.Dockerfile .` there bundles in the build stage, after a
 * `pnpm install` from the npm registry.
 */
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const IMAGES = ["sidecar", "collector"] as const;

const help = `Usage: pnpm build:images [--base IMAGE] [--sidecar-tag TAG] [--collector-tag TAG] [--quiet]

Builds both images with the docker CLI on PATH (DOCKER_HOST and the rest as docker reads them), from
a context holding deploy/docker and each image's bundle, made here first: no network in the build.
  --base IMAGE          the Dockerfiles' BASE (default: theirs, node:24-bookworm-slim); any Debian
                        image with Node 24 at /usr/local/bin/node
  --sidecar-tag TAG     default ${DEFAULTS.image} (what clawguard inject writes)
  --collector-tag TAG   default ${DEFAULTS.collectorImage}
  --quiet               docker build -q: print the image ids only

Exit codes: 0 built; 1 a bundle or a build failed; 2 usage.`;

export interface BuildOptions {
  base?: string | undefined;
  tags: Record<(typeof IMAGES)[number], string>;
  quiet?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** A build context: the Dockerfiles' folder and each image's `/app` in `dist/image/<what>/`. */
export async function prepareContext(): Promise<string> {
  const ctx = mkdtempSync(join(tmpdir(), "clawguard-image-"));
  try {
    cpSync(join(REPO, "deploy/docker"), join(ctx, "deploy/docker"), { recursive: true });
    for (const what of IMAGES) await bundleImage(what, join(ctx, "dist/image", what));
    writeFileSync(join(ctx, ".dockerignore"), ".git\n");
    return ctx;
  } catch (err) {
    rmSync(ctx, { recursive: true, force: true });
    throw err;
  }
}

/** `docker build` of both images from `ctx`; throws naming the image whose build failed. */
export function buildFromContext(ctx: string, options: BuildOptions): void {
  for (const what of IMAGES) {
    const args = [
      "build",
      ...(options.quiet ? ["-q"] : []),
      ...(options.base ? ["--build-arg", `BASE=${options.base}`] : []),
      "-f",
      join(ctx, `deploy/docker/${what}.Dockerfile`),
      "-t",
      options.tags[what],
      ctx,
    ];
    const r = spawnSync("docker", args, { stdio: "inherit", env: options.env ?? process.env });
    if (r.status !== 0)
      throw new Error(
        `docker ${args.join(" ")}: ${r.error ? r.error.message : `exit ${r.status ?? r.signal}`}`,
      );
  }
}

/** Both images, bundled and built; the context removed after. */
export async function buildImages(options: BuildOptions): Promise<void> {
  const ctx = await prepareContext();
  try {
    buildFromContext(ctx, options);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

async function main(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      // \`pnpm build:images -- --base X\` hands the script the "--" too.
      args: args[0] === "--" ? args.slice(1) : args,
      strict: true,
      options: {
        base: { type: "string" },
        "sidecar-tag": { type: "string" },
        "collector-tag": { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`build:images: ${(err as Error).message.split("\n")[0]}\n${help}`);
    return 2;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  try {
    await buildImages({
      base: str("base"),
      tags: {
        sidecar: str("sidecar-tag") ?? DEFAULTS.image,
        collector: str("collector-tag") ?? DEFAULTS.collectorImage,
      },
      quiet: values.quiet === true,
    });
  } catch (err) {
    console.error(`build:images: ${(err as Error).message}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
