import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { EncodingName } from "@clawguard/shared/tokens/bpe";
import { VOCABS, type VocabFamily, vocabFile } from "@clawguard/shared/tokens/vocab";
import { buildAgentBundle, embeddedGrammar, englishOnlyZod } from "@clawguard/sidecar/build/agent-bundle";
import { build, type Plugin } from "esbuild";

/**
 * What an image holds (its /app): its process's package and what that imports, bundled by esbuild
 * into ES modules for Node 24 (the code a process never loads is not there, and a command's code
 * loads when it runs: import() becomes a chunk), plus the files the code reads at run time:
 *
 * - sidecar: the sidecar package's commands (`sidecar`, `exec`, `read`, `memory`), its workers
 *   (guard, vocabulary, grep), the shell parser's WebAssembly inside its chunk, the agent-side
 *   `clawguard` it publishes, gpt-tokenizer's CommonJS files (required at run time) and the three
 *   open-model tokenizer.json files;
 * - collector: the collector package's commands (`collector`, `router`, `route`), the fleet page's
 *   files, and PGlite as it is (its WebAssembly and data files sit beside its code).
 *
 *   node deploy/src/build/image-bundle.ts sidecar|collector OUT
 */

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

type Image = "sidecar" | "collector";

/**
 * Source edits for the bundle, each of which must still match (a refactor that moves one fails the
 * build, not the image): files the sources find beside themselves, which sit beside the bundle.
 */
const REWRITES: Record<string, [from: string, to: string][]> = {
  "sidecar/src/build/paths.ts": [['"../../../dist/clawguard"', '"./clawguard"']],
  "sidecar/src/sources/llm-proxy/guard-pool.ts": [['"./guard-worker.ts"', '"./guard-worker.js"']],
  "sidecar/src/sources/exec-guard/read.ts": [
    ['import.meta.url.endsWith(".ts")', "true"],
    ['"./grep-worker.ts"', '"./grep-worker.js"'],
  ],
  "shared/src/tokens/vocab.ts": [['"./vocab-worker.ts"', '"./vocab-worker.js"']],
};

const rewrites: Plugin = {
  name: "image-rewrites",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const edits = Object.entries(REWRITES).find(([file]) => args.path === join(REPO, file))?.[1];
      if (!edits) return undefined;
      let text = readFileSync(args.path, "utf8");
      for (const [from, to] of edits) {
        if (!text.includes(from)) throw new Error(`${args.path}: expected ${from} to rewrite for the image`);
        text = text.replaceAll(from, to);
      }
      return { contents: text, loader: "ts" };
    });
  },
};

const ENTRIES: Record<Image, Record<string, string>> = {
  sidecar: {
    bin: "sidecar/src/cli/bin.ts",
    "guard-worker": "sidecar/src/sources/llm-proxy/guard-worker.ts",
    "grep-worker": "sidecar/src/sources/exec-guard/grep-worker.ts",
    "vocab-worker": "shared/src/tokens/vocab-worker.ts",
  },
  collector: { bin: "collector/src/cli/bin.ts" },
};

async function bundle(what: Image, out: string): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(
      Object.entries(ENTRIES[what]).map(([name, file]) => [name, join(REPO, file)]),
    ),
    outdir: out,
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    // Flat: the files the sources find beside themselves (workers, the agent-side file) are beside every chunk.
    chunkNames: "chunk-[name]-[hash]",
    plugins: what === "sidecar" ? [rewrites, englishOnlyZod, embeddedGrammar] : [rewrites],
    loader: { ".wasm": "binary" },
    // Run as they are from node_modules beside the bundle: PGlite (its files sit beside its code),
    // gpt-tokenizer's encodings (required at run time, see shared/src/tokens/bpe.ts); pg's native
    // binding is optional and not installed.
    external: ["@electric-sql/pglite", "pg-native"],
    // CommonJS dependencies inside ES modules still call require().
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  });
  writeFileSync(join(out, "package.json"), `${JSON.stringify({ type: "module", private: true })}\n`);
}

/** A package's folder as Node finds it from `pkg`'s folder (pnpm links it there). */
function packageDir(name: string, pkg = "shared"): string {
  const from = createRequire(join(REPO, pkg, "package.json"));
  const dir = (from.resolve.paths(name) ?? [])
    .map((d) => join(d, name))
    .find((d) => existsSync(join(d, "package.json")));
  if (!dir) throw new Error(`${name} is not installed for ${pkg}/: pnpm install`);
  return realpathSync(dir);
}

/**
 * gpt-tokenizer's files that shared/src/tokens requires at run time (the BPE core, the encoding, the
 * two encodings' ranks) and what they require, found by following their require("./...") calls.
 */
function gptTokenizerFiles(out: string): void {
  const dir = packageDir("gpt-tokenizer");
  const queue = [
    "cjs/GptEncoding.js",
    "cjs/BytePairEncodingCore.js",
    ...ENCODINGS.map((e) => `cjs/bpeRanks/${e}.js`),
  ];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(dir, file), "utf8");
    for (const [, rel] of text.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g))
      queue.push(join(dirname(file), rel as string));
  }
  for (const file of ["package.json", ...seen])
    cpSync(join(dir, file), join(out, "node_modules/gpt-tokenizer", file));
}

/** The encodings the guard counts with (shared/src/tokens/bpe.ts: EncodingName). */
const ENCODINGS: EncodingName[] = ["o200k_base", "cl100k_base"];

function sidecarFiles(out: string): void {
  gptTokenizerFiles(out);
  for (const [family, name] of Object.entries(VOCABS)) {
    const file = vocabFile(family as VocabFamily);
    if (!file) throw new Error(`${name} is not installed (an optional dependency of shared/): pnpm install`);
    const gz = join(out, "node_modules", name, "models/tokenizer.json.gz");
    mkdirSync(dirname(gz), { recursive: true });
    writeFileSync(gz, gzipSync(readFileSync(file), { level: 9 }));
  }
}

function collectorFiles(out: string): void {
  for (const name of ["fleet.html", "fleet.css", "fleet.js"])
    cpSync(join(REPO, "collector/src/page", name), join(out, name));
  cpSync(packageDir("@electric-sql/pglite", "collector"), join(out, "node_modules/@electric-sql/pglite"), {
    recursive: true,
    dereference: true,
    filter: (src) => !/\.(map|d\.ts|d\.cts)$/.test(src),
  });
}

/** du -sb: the bytes of every file under `dir`. */
export function treeBytes(dir: string): number {
  const s = statSync(dir);
  if (!s.isDirectory()) return s.size;
  return readdirSync(dir).reduce((sum, name) => sum + treeBytes(join(dir, name)), 0);
}

/** Builds OUT (emptied first) for `what`'s image; returns its size. */
export async function bundleImage(what: Image, out: string): Promise<{ out: string; bytes: number }> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await bundle(what, out);
  if (what === "sidecar") {
    sidecarFiles(out);
    await buildAgentBundle(join(out, "clawguard"));
  } else {
    collectorFiles(out);
  }
  return { out, bytes: treeBytes(out) };
}

if (import.meta.main) {
  const [what, out] = process.argv.slice(2);
  if ((what !== "sidecar" && what !== "collector") || !out) {
    console.error("usage: image-bundle.ts sidecar|collector OUT");
    process.exit(2);
  }
  const built = await bundleImage(what, resolve(out));
  console.log(`${what}: ${built.out} (${(built.bytes / 1e6).toFixed(1)} MB)`);
}
