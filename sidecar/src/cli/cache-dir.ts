import { lstatSync, readFileSync } from "node:fs";
import { userTmpDir } from "@clawguard/shared/fs-dirs";

/**
 * Where the built agent-side file keeps what it can reuse between runs (validated exec settings,
 * parsed scripts, chunks, its code cache): `CLAWGUARD_EXEC_CACHE` (a directory, or `off`), else
 * `$TMPDIR/clawguard-exec-<uid>`. From the sources (tests, `pnpm clawguard`), nothing is kept unless
 * that variable says where.
 */
export function execCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.CLAWGUARD_EXEC_CACHE === "off") return undefined;
  if (env.CLAWGUARD_EXEC_CACHE) return env.CLAWGUARD_EXEC_CACHE;
  if (process.argv[1]?.endsWith(".ts")) return undefined;
  return userTmpDir("clawguard-exec");
}

/**
 * A file kept in that directory, read only if it is a plain file (a FIFO put in its place hung every
 * start; a link to a device would flood it). Throws as readFileSync does when it is not there.
 */
export function readKept(path: string): Buffer {
  if (!lstatSync(path).isFile()) throw new Error(`${path} is not a plain file`);
  return readFileSync(path);
}
