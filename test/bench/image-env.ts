import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * The process environment the sidecar's Dockerfile sets (NODE_ENV, malloc's tunables), without its
 * CLAWGUARD_* settings (each bench gives its own listen address and state): a bench runs the
 * sidecar as its image does.
 */
export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(new URL("../../deploy/docker/sidecar.Dockerfile", import.meta.url), "utf8");
  const block = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1] ?? "";
  const pairs = block
    .split(/\s+/)
    .map((word) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word))
    .filter((m): m is RegExpExecArray => m !== null && !m[1]?.startsWith("CLAWGUARD_"));
  if (!pairs.some((m) => m[1] === "NODE_ENV"))
    throw new Error("sidecar.Dockerfile: no ENV NODE_ENV=... found");
  return Object.fromEntries(pairs.map((m) => [m[1], m[2]]));
}

/**
 * What `clawguard inject` gives every sidecar beside its image's environment that costs per event:
 * a sealing key (each event it spools is sealed with an HMAC). A bench's sidecar seals as a
 * deployed one does.
 */
export const SEALED = { CLAWGUARD_SEAL_KEY: randomBytes(32).toString("hex") };
