import { z } from "zod";

/** Schema building blocks shared by every program's config, so all fields read the same way. */

/** What a building block accepts, in a word, for the generated config reference (`bytes`, `host:port`). */
export const fieldKinds = z.registry<{ kind: string }>();

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses `51200`, `"64KiB"`, `"8 MiB"`; anything else is returned unchanged for the schema to reject. */
export function parseBytes(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return value;
  const unit = UNITS[(match[2] || "b").toLowerCase()];
  return unit === undefined ? value : Math.round(Number(match[1]) * unit);
}

function parseNumber(value: unknown): unknown {
  return typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

/** An integer in [min, max]; strings of digits (from env) are accepted. */
export function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess(
    parseNumber,
    z
      .number({ error: `expected an integer >= ${min}` })
      .int({ error: `expected an integer >= ${min}` })
      .min(min, { error: `expected an integer >= ${min}` })
      .max(max, { error: `expected an integer <= ${max}` }),
  );
}

/** A byte size in [min, max]: a number or a string such as "64KiB". */
export function bytes(min: number, max = Number.MAX_SAFE_INTEGER) {
  const schema = z.preprocess(
    parseBytes,
    z
      .number({ error: `expected a byte size >= ${min} (e.g. 51200 or "64KiB")` })
      .int({ error: "expected a whole number of bytes" })
      .min(min, { error: `expected a byte size >= ${min}` })
      .max(max, { error: `expected a byte size <= ${max}` }),
  );
  return schema.register(fieldKinds, { kind: "bytes" });
}

export const bool = z.preprocess(
  (value) => (value === "true" || value === "1" ? true : value === "false" || value === "0" ? false : value),
  z.boolean({ error: "expected true or false" }),
);

/** `host:port`; the host defaults to loopback so nothing listens on a public address by accident. */
export const listen = z
  .string({ error: 'expected "host:port", e.g. "127.0.0.1:18800"' })
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
    error: 'expected "host:port", e.g. "127.0.0.1:18800"',
  })
  .refine((v) => Number(v.slice(v.lastIndexOf(":") + 1)) <= 65535, {
    error: "port must be 0-65535",
    // A value that is not host:port at all gets one message, not two.
    when: (payload) => typeof payload.value === "string" && /:\d{1,5}$/.test(payload.value),
  })
  .register(fieldKinds, { kind: "host:port" });

export function parseListen(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(":");
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(value.slice(at + 1)) };
}

export const httpUrl = z
  .string({ error: "expected an http(s) URL" })
  .refine((v) => /^https?:\/\/[^\s/]+/.test(v) && URL.canParse(v), { error: "expected an http(s) URL" })
  .register(fieldKinds, { kind: "URL" });

export const agentName = z
  .string({ error: "expected an agent name" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
    error: "expected 1-63 chars of [A-Za-z0-9_.-], not starting with _ . -",
  });

/** A role (gateway, bot, ...): a Prometheus label and part of alert texts, so a safe charset only. */
export const roleName = z.string({ error: "expected a role" }).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  error: "expected 1-64 chars of [A-Za-z0-9_.-], not starting with _ . -",
});

/**
 * Where a secret comes from. Never the secret itself: config files get committed and printed.
 * `env` names an environment variable, `file` a file (Docker secrets: /run/secrets/...).
 */
export const secretRef = z
  .strictObject({
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
      .optional(),
    file: z.string().min(1).optional(),
  })
  .register(fieldKinds, { kind: "secret" });
export type SecretRef = z.infer<typeof secretRef>;
