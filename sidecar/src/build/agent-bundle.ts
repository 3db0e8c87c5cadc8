import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { type BuildOptions, build, type Plugin } from "esbuild";
import { BODY_MARK } from "../cli/bundle-loader.ts";
import { AGENT_BUNDLE as DEFAULT_OUTFILE } from "./paths.ts";

/**
 * Bundles the agent-side CLI (`exec`, `read`) into one self-contained executable file, `clawguard`:
 * what runs in the agent's container with nothing but Node, published by the sidecar on a shared
 * volume and put on the exec PATH. Plain JavaScript in one file starts faster than the sources.
 */

export { AGENT_BUNDLE } from "./paths.ts";

/**
 * The file is a shell script and a CommonJS module at once: `sh` runs line 2 (`':'` is a no-op, the
 * rest re-executes the file with Node); Node skips the `#!` line and reads line 2 as a string and a
 * comment. This way the Node flags travel with the file: a 1 MiB young generation keeps peak memory
 * flat while output streams through, and the warning Node prints when a `vm` script imports by
 * Node's own loader (the bundle-loader's, for the chunks) would otherwise land in the command's
 * output. After the launcher come EXEC_START, the bundle-loader, and the bundle behind `//`.
 * `exec` also runs without V8's optimizing compilers (EXEC_FLAGS): its per-byte work is native
 * (sha256) and WebAssembly, and the compilers' code is ~8 MB of the Node binary that would
 * otherwise become resident (its text is mapped in 2 MB pages), a tenth of exec's peak memory.
 * Those flags are set by the file itself (EXEC_START), not on Node's command line: there, any of
 * them makes V8 refuse the code cache Node carries for its own modules, which are then compiled
 * from their source at every start (and a new cache serialized for each): ~95M of the 415M
 * instructions of `exec -- true`. `--max-semi-space-size` does not count: it stays on the line.
 */
const EXEC_FLAGS = [
  // WebAssembly by the baseline compiler only, no TurboFan tier-up (set at run time, what
  // `--liftoff-only` implies on the command line has to be said: a tiering budget alone ran out
  // on 200 MB of `seq`).
  "--liftoff-only",
  "--no-wasm-tier-up",
  "--no-wasm-dynamic-tiering",
  "--wasm-wrapper-tiering-budget=1000000000", // nor TurboFan-compiled JS-to-WebAssembly wrappers
  "--no-opt", // JavaScript without TurboFan...
  "--no-maglev", // ...and without Maglev: interpreted and baseline-compiled
  // Regular expressions compiled to machine code at their first run, not interpreted first and
  // compiled again at the second: the secret patterns (one 9.7 KB alternation) run on the command
  // line, its directory and the preview, and were compiled twice (~36M of 470M instructions).
  "--no-regexp-tier-up",
].join(" ");
/**
 * The first lines the file runs, for `exec`: the Node modules it needs are loaded while V8 still
 * takes their code cache (a flag set at run time changes the flags' hash, and the cache of any
 * module loaded after it is refused), then EXEC_FLAGS are set, before the scanner's WebAssembly
 * is compiled or any code is hot. A module left out of the list only starts slower.
 */
const EXEC_START = `if(process.argv[2]==="exec"){for(const m of ["node:crypto","node:child_process","node:fs/promises","node:os","node:vm"])process.getBuiltinModule(m);process.getBuiltinModule("node:v8").setFlagsFromString(${JSON.stringify(EXEC_FLAGS)})}`;
const LAUNCHER = [
  "#!/bin/sh",
  `':' //; exec "\${CLAWGUARD_NODE:-node}" --max-semi-space-size=1 --disable-warning=ExperimentalWarning "$0" "$@"`,
  "",
].join("\n");

/**
 * zod's namespace export carries every locale's error messages (60% of the bundle, parsed at each
 * start); the agent-side CLI speaks English, which zod loads on its own (`config(en())`).
 */
export const englishOnlyZod: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes("/zod/") ? { path: "zod-locales", namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, () => ({ contents: "export {};", loader: "js" }));
  },
};

/**
 * Node's built-in modules, taken with `process.getBuiltinModule` when the module importing them is
 * first evaluated, instead of ES imports: those are all linked before the file's first line runs,
 * whether the command uses them or not (`exec` loaded readline and zlib, which only `read` and the
 * shell parser's chunk use), each compiled from its source when loaded after EXEC_START has set
 * V8 flags (V8 then refuses Node's code cache for them): `exec -- true` 434M -> 410M instructions.
 */
export const lazyBuiltins: Plugin = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: "builtin" }));
    b.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

/** One ES module file for Node 24, minified. */
const COMMON = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
} as const satisfies BuildOptions;

/**
 * A module built on its own and carried in the file as a string, imported from it only when a
 * command needs it (`cli/chunk.ts`): the swapped module `swap` then exports `name` as a function
 * that imports the chunk. The common `exec` neither parses nor compiles what a chunk holds.
 */
async function chunk(
  entry: string,
  swap: RegExp,
  name: string,
  plugins: Plugin[],
  gzip = false,
): Promise<Plugin> {
  const built = await build({
    ...COMMON,
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    write: false,
    plugins,
    loader: { ".wasm": "binary" },
    // As below; from a data: URL there is no file to resolve from, and only built-ins are required.
    banner: {
      js: "import{createRequire as __cr}from'node:module';const require=__cr(process.execPath);const __url=import.meta.url.startsWith('file:')?import.meta.url:'file://'+process.execPath;",
    },
    define: { "import.meta.url": "__url" },
  });
  const code = built.outputFiles[0]?.text ?? "";
  const runtime = fileURLToPath(new URL("../cli/chunk.ts", import.meta.url));
  // Every start reads and scans the whole file: a big chunk goes in gzipped (2.1 MB -> 0.5 MB).
  const text = gzip
    ? `process.getBuiltinModule("node:zlib").gunzipSync(Buffer.from(${JSON.stringify(gzipSync(code, { level: 9 }).toString("base64"))}, "base64")).toString()`
    : JSON.stringify(code);
  return {
    name: `chunk-${name}`,
    setup(b) {
      b.onResolve({ filter: swap }, () => ({ path: name, namespace: `chunk-${name}` }));
      b.onLoad({ filter: /.*/, namespace: `chunk-${name}` }, () => ({
        contents: `import { importChunk } from ${JSON.stringify(runtime)};\nexport const ${name} = () => importChunk(${text});\n`,
        loader: "js",
        resolveDir: dirname(runtime),
      }));
    },
  };
}

/**
 * The shell parser's two WebAssembly files go into its chunk (the agent's container has no
 * node_modules to read them from).
 */
export const embeddedGrammar: Plugin = {
  name: "embedded-grammar",
  setup(b) {
    const require = createRequire(import.meta.url);
    const files = {
      runtime: require.resolve("web-tree-sitter/web-tree-sitter.wasm"),
      bash: require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"),
    };
    b.onResolve({ filter: /\/grammar\.ts$/ }, () => ({ path: "grammar", namespace: "grammar" }));
    b.onLoad({ filter: /.*/, namespace: "grammar" }, () => ({
      contents: `import runtime from ${JSON.stringify(files.runtime)};\nimport bash from ${JSON.stringify(files.bash)};\nexport const grammarWasm = () => ({ runtime, bash });\n`,
      loader: "js",
      resolveDir: dirname(files.runtime),
    }));
  },
};

/**
 * The config loader (zod, YAML: ~90 % of the code without the parser) is imported only when a
 * command loads the config (`read`; `exec` when its kept settings do not match): ~15 ms of every
 * start. The shell parser (tree-sitter, ~2 MB with its WebAssembly) only when a policy has a shell
 * script to read.
 */
const chunks = async () => [
  await chunk("../cli/context.ts", /\/load-context\.ts$/, "loadContext", [englishOnlyZod]),
  await chunk(
    "../sources/exec-guard/command/tree-sitter.ts",
    /\/load-parser\.ts$/,
    "loadParser",
    [embeddedGrammar],
    true,
  ),
];

export async function buildAgentBundle(
  outfile = DEFAULT_OUTFILE,
): Promise<{ outfile: string; bytes: number }> {
  const body = await bundleBody();
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  const loader = await build({
    ...COMMON,
    stdin: {
      contents: `import { runBundle } from "./bundle-loader.ts";\nrunBundle(process.argv[1] as string);\n`,
      resolveDir: fileURLToPath(new URL("../cli/", import.meta.url)),
      loader: "ts",
    },
    write: false,
    plugins: [lazyBuiltins],
    define: { BODY_HASH: JSON.stringify(hash) },
    banner: { js: `"use strict";${EXEC_START}` },
  });
  const code = loader.outputFiles[0]?.text ?? "";
  const commented = body
    .split("\n")
    .map((line) => `//${line}`)
    .join("\n");
  mkdirSync(dirname(outfile), { recursive: true });
  writeFileSync(outfile, `${LAUNCHER}${code}${BODY_MARK} ${hash}\n${commented}\n`);
  chmodSync(outfile, 0o755);
  return { outfile, bytes: statSync(outfile).size };
}

/**
 * The agent-side CLI as one CommonJS function expression, the bundle-loader's to compile (an ES
 * module file with no extension was first compiled as CommonJS, failed, and was detected and
 * compiled again: ~17M instructions a start). It goes into the file behind `//` on every line, so
 * a line break that JavaScript counts where Node's loader does not would end a comment early.
 */
async function bundleBody(): Promise<string> {
  const built = await build({
    ...COMMON,
    format: "cjs",
    entryPoints: [fileURLToPath(new URL("../cli/agent.ts", import.meta.url))],
    write: false,
    plugins: [englishOnlyZod, lazyBuiltins, ...(await chunks())],
    define: { "import.meta.url": "__url" },
  });
  // agent.ts starts with its own `#!/usr/bin/env node`.
  const code = (built.outputFiles[0]?.text ?? "").replace(/^#![^\n]*\n/, "");
  if (/[\r\u2028\u2029]/.test(code)) throw new Error("the agent bundle has a line break other than \\n");
  return `(function(exports,require,module,__filename,__dirname){"use strict";const __url=process.getBuiltinModule("node:url").pathToFileURL(__filename).href;\n${code}\n})`;
}
