import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import { privateDir } from "@clawguard/shared/fs-dirs";
import type { ParsedScript } from "../sources/exec-guard/command/script.ts";
import type { ScriptCache } from "../sources/exec-guard/policy.ts";
import { readKept } from "./cache-dir.ts";

/**
 * Shell scripts the exec policy has read, kept in the agent-side file's private cache directory
 * (only its user can write there: a forged entry could hide a program from the policy), keyed by
 * the script and the running program file (a new build reads afresh). Reading a script the same
 * way again then loads no parser: ~70 ms of CPU on a 2-core box.
 */
export function scriptCache(dir: string | undefined): ScriptCache | undefined {
  if (!dir || !privateDir(dir)) return undefined;
  const program = process.argv[1] ? statSync(process.argv[1], { throwIfNoEntry: false }) : undefined;
  const file = (script: string) =>
    join(
      dir,
      `script-${createHash("sha256")
        .update(
          JSON.stringify([process.argv[1] ?? null, program?.size ?? null, program?.mtimeMs ?? null, script]),
        )
        .digest("hex")}.json`,
    );
  return {
    get(script) {
      try {
        return JSON.parse(readKept(file(script)).toString("utf8")) as ParsedScript;
      } catch {
        return undefined;
      }
    },
    set(script, parsed) {
      try {
        writeFileAtomic(file(script), JSON.stringify(parsed));
      } catch {
        // Not kept: the next run parses again.
      }
    },
  };
}
