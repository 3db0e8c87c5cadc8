import { existsSync, readFileSync } from "node:fs";
import type { Io } from "@clawguard/shared/cli/command";
import { resolveSecret } from "@clawguard/shared/config/load";
import { ClawguardError } from "@clawguard/shared/errors";
import { loadSidecarConfig } from "../config.ts";
import { upPaths } from "../paths.ts";
import { configFile } from "./config-file.ts";

/** How the read commands (audit, memory) talk to the collector: its read token, and GET. */

export function readToken(flag: string | undefined, io: Io): string {
  if (flag) {
    try {
      return resolveSecret({ file: flag }, io.env, "--token-file") as string;
    } catch (err) {
      // A file named on the command line that is not there is bad input (2), not bad configuration.
      throw new ClawguardError("input.invalid", (err as Error).message);
    }
  }
  const fromEnv = resolveSecret(undefined, io.env, "read token", "CLAWGUARD_READ_TOKEN");
  if (fromEnv) return fromEnv;
  const local = upReadToken(io);
  if (local && existsSync(local)) return readFileSync(local, "utf8").trim();
  throw new ClawguardError(
    "config.invalid",
    "no read token: set CLAWGUARD_READ_TOKEN or CLAWGUARD_READ_TOKEN_FILE, or pass --token-file",
  );
}

/**
 * The read token `clawguard up` made for the workspace here, in its sidecar's state dir: found as
 * `up` finds it (the same config file, agent main, this folder the workspace unless one is set).
 */
function upReadToken(io: Io): string | undefined {
  try {
    const env = {
      ...io.env,
      CLAWGUARD_AGENT: "main",
      CLAWGUARD_WORKSPACE: io.env.CLAWGUARD_WORKSPACE ?? io.cwd,
    };
    const config = loadSidecarConfig(configFile(undefined, io.env, io.cwd), env, io.cwd);
    return upPaths(config.paths.stateDir).readToken;
  } catch {
    return undefined; // a sidecar setting that does not load: no token of `up`'s to find
  }
}

export async function get(url: string, token: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    throw new ClawguardError(
      "upstream.unavailable",
      `cannot reach the collector at ${new URL(url).origin}: ${(err as Error).cause ?? (err as Error).message}`,
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: { message: text.slice(0, 200) } };
  }
  if (!response.ok) {
    const message = (body as { error?: { message?: string } }).error?.message ?? `HTTP ${response.status}`;
    // The collector refusing what was asked (a bad --since, an unknown agent) is bad input: exit 2.
    const code = response.status === 400 || response.status === 404 ? "input.invalid" : "upstream.rejected";
    throw new ClawguardError(code, `collector: ${message} (HTTP ${response.status})`);
  }
  return body;
}
