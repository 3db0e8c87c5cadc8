import { resolveSecret } from "../config/load.ts";
import { ClawguardError } from "../errors.ts";
import type { Io } from "./command.ts";

/**
 * How the read commands (audit, fleet, incidents, alerts, memory history) talk to the collector:
 * its read token, and GET. The operator's `clawguard` also finds the token `clawguard up` made
 * (deploy/src/cli/up-token.ts); in the collector's container the token is in its environment.
 */

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
  throw new ClawguardError(
    "config.invalid",
    "no read token: set CLAWGUARD_READ_TOKEN or CLAWGUARD_READ_TOKEN_FILE, or pass --token-file",
  );
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
