import { createHash } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import { privateDir } from "@clawguard/shared/fs-dirs";
import { execCacheDir, readKept } from "./cache-dir.ts";

/**
 * Imports an ES module given as its source text (a chunk the agent-side file carries): from a file
 * named by its sha256 in the private cache directory, written once, so that Node's compile cache
 * covers it; else (no such directory) from a data: URL.
 */
export async function importChunk(code: string): Promise<unknown> {
  const file = chunkFile(code);
  return import(
    file ? pathToFileURL(file).href : `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`
  );
}

/** The chunk as a file in the private cache directory (written when missing or different), if any. */
function chunkFile(code: string): string | undefined {
  const dir = execCacheDir(process.env);
  if (!dir || !privateDir(dir)) return undefined;
  const file = join(dir, `chunk-${createHash("sha256").update(code).digest("hex")}.mjs`);
  try {
    if (readKept(file).toString("utf8") === code) return file;
  } catch {
    // not written yet
  }
  try {
    writeFileAtomic(file, code);
    return file;
  } catch {
    return undefined;
  }
}
