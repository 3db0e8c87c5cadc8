import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { ClawguardError } from "../errors.ts";

const digest = (token: string) => createHash("sha256").update(token).digest();

/**
 * Bearer tokens, each naming who holds it. Compared in constant time over digests, so neither the
 * token nor its length leaks through timing.
 */
export class TokenSet<P> {
  readonly #entries: { digest: Buffer; principal: P }[] = [];

  add(token: string, principal: P): this {
    this.#entries.push({ digest: digest(token), principal });
    return this;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The principal for the request's bearer token; throws auth.* errors naming what is wrong. */
  authenticate(c: Context): P {
    const header = c.req.header("authorization");
    if (!header)
      throw new ClawguardError("auth.missing", "missing Authorization header (expected: Bearer <token>)");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match)
      throw new ClawguardError("auth.invalid", "malformed Authorization header (expected: Bearer <token>)");
    const presented = digest(match[1] as string);
    let found: P | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, presented)) found = entry.principal;
    }
    if (found === undefined) throw new ClawguardError("auth.invalid", "invalid token");
    return found;
  }
}
