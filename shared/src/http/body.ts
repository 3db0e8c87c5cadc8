import type { Context } from "hono";
import { ClawguardError } from "../errors.ts";

/** The request body as JSON, or a 400 that says what is wrong with it. */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new ClawguardError(
      "input.invalid",
      `expected Content-Type: application/json, got ${JSON.stringify(type || "(none)")}`,
    );
  }
  // A body cut short (its client gone, or a server stopping) is onError's: a 400, logged at info.
  const text = await c.req.text();
  if (text.trim() === "") throw new ClawguardError("input.invalid", "empty body: expected a JSON object");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ClawguardError("input.invalid", `body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The request body's bytes (a body cut short is onError's: a 400). */
export async function readBytes(c: Context): Promise<Uint8Array> {
  return new Uint8Array(await c.req.arrayBuffer());
}

/** A query parameter as a non-negative integer, or a 400 naming the parameter. */
export function queryInt(c: Context, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    throw new ClawguardError(
      "input.invalid",
      `${name}: expected an integer in 0..${max}, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return Number(raw);
}
