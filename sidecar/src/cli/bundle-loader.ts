import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire, enableCompileCache } from "node:module";
import { dirname, join } from "node:path";
import { constants, Script } from "node:vm";
import { privateDir } from "@clawguard/shared/fs-dirs";
import { execCacheDir, readKept } from "./cache-dir.ts";

/**
 * The agent-side file's own code (after its launcher and EXEC_START): the bundle follows it in the
 * same file, every line behind `//` (Node, compiling the file, only skips over it), and is compiled
 * here with a V8 code cache of our own. Node's compile cache is made when a file is compiled, so it
 * holds the top level only: every function a command runs was parsed and compiled again at each
 * start (~60M of the ~310M instructions of `exec -- true`). This one is made when the first run of a
 * command exits, so it holds those functions too. It is code, so it is kept only in the private cache
 * directory; any problem with it costs a compile from the source, as without it.
 */

/** The line before the bundle. */
export const BODY_MARK = "//@clawguard-body";
/** The start of the bundle's sha256, put in by the build: a new build never meets an old one's cache. */
declare const BODY_HASH: string;

type Body = (exports: object, require: NodeJS.Require, module: object, file: string, dir: string) => void;

/**
 * Runs the bundle in `file` (process.argv[1]: the loader uses neither `require` nor `__filename`, as
 * under a package.json with `"type": "module"` Node runs the extensionless file as an ES module).
 */
export function runBundle(file: string): void {
  const text = readFileSync(file, "utf8");
  // The mark's line names the bundle's hash: a file another build replaced since Node read this
  // one (a new sidecar publishing) is compiled without this build's cache.
  const mark = new RegExp(`\n${BODY_MARK} ([0-9a-f]{16})\n`).exec(text);
  if (!mark) throw new Error(`${file} has no ${BODY_MARK} line: not a whole clawguard file`);
  // Past the mark's line and the first line's `//`; then every other line's.
  const source = text.slice(mark.index + mark[0].length + 2).replaceAll("\n//", "\n");
  const dir = execCacheDir(process.env);
  const ours = mark[1] === BODY_HASH;
  const cacheFile = ours && dir && privateDir(dir) ? codeCacheFile(dir) : undefined;
  // Node's compile cache (for the chunks) in the same private directory: in a folder of $TMPDIR
  // shared by every user, another user could plant entries that Node would run as this one.
  if (cacheFile) enableCompileCache(join(dirname(cacheFile), "node-compile-cache"));
  let cachedData: Buffer | undefined;
  try {
    if (cacheFile) cachedData = readKept(cacheFile);
  } catch {
    // not made yet
  }
  const script = new Script(source, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    // The chunks (config loader, shell parser) are ES modules imported by file URL.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cacheFile && (!cachedData || script.cachedDataRejected)) {
    process.once("exit", () => keep(cacheFile, script));
  }
  (script.runInThisContext() as Body)({}, createRequire(file), {}, file, dirname(file));
}

/**
 * One cache per command kind (`exec` runs with V8 flags of its own, which a cache must match), Node
 * build, and Node options (V8 refuses a cache made under other flags).
 */
function codeCacheFile(dir: string): string {
  const kind = process.argv[2] === "exec" ? "exec" : "cli";
  const flags = fnv1a(`${process.execArgv.join(" ")}\n${process.env.NODE_OPTIONS ?? ""}`);
  return join(dir, `code-${kind}-${BODY_HASH}-${process.version}-${process.arch}-${flags}.v8`);
}

/** Writes the cache, and removes those of other builds (a new build is published over the old). */
function keep(cacheFile: string, script: Script): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600, flag: "wx" });
    renameSync(tmp, cacheFile);
    const dir = dirname(cacheFile);
    for (const name of readdirSync(dir))
      if (/^code-[a-z]+-[0-9a-f]{16}-/.test(name) && !name.includes(`-${BODY_HASH}-`))
        rmSync(join(dir, name), { force: true });
  } catch {
    // Not kept: the next start compiles from the source, as this one did.
  }
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(36);
}
