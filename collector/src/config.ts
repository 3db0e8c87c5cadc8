import { hostname } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { agentName, bytes, int, listen, secretRef } from "@clawguard/shared/config/fields";
import { type EnvMap, loadConfig } from "@clawguard/shared/config/load";
import { z } from "zod";
import { alertsConfig } from "./alerts/config.ts";
import { controllerConfig } from "./controller/config.ts";
import { metricsConfig } from "./metrics/config.ts";

const sealKeyId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: "expected a key id of 1-32 chars [A-Za-z0-9_.-]" });

export const collectorSchema = z.strictObject({
  /** Loopback by default; set 0.0.0.0:18800 in a container that sidecars reach over the network. */
  listen: listen.default("127.0.0.1:18800"),
  host: z.string().min(1).max(255).default(hostname()),
  database: z
    .strictObject({
      /** PostgreSQL URL; default from DATABASE_URL or DATABASE_URL_FILE. None: the embedded store. */
      url: secretRef.optional(),
      poolMax: int(1, 200).default(10),
    })
    .prefault({}),
  redis: z
    .strictObject({
      /**
       * Redis URL (redis:// or rediss://) for liveness; default from REDIS_URL or REDIS_URL_FILE.
       * None: liveness in-process (one replica). Set for several replicas.
       */
      url: secretRef.optional(),
      /** Prepended to every key this collector writes. */
      keyPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{0,64}$/, { error: "expected up to 64 chars of [A-Za-z0-9_.:-]" })
        .default("clawguard:"),
    })
    .prefault({}),
  fleet: z
    .strictObject({
      /** An agent is stale when its last heartbeat is older than staleFactor x its intervalMs. */
      staleFactor: z
        .preprocess(
          (v) => (typeof v === "string" && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v),
          z
            .number({ error: "expected a number in 1.5..100" })
            .min(1.5, { error: "expected a number in 1.5..100" })
            .max(100, { error: "expected a number in 1.5..100" }),
        )
        .default(3),
      /** How often each replica looks for agents whose heartbeat is overdue. */
      sweepMs: int(100, 60_000).default(1000),
      /** An agent whose clock is further than this from the collector's is flagged (fleet: clockOffset.skewed). */
      maxClockSkewMs: int(1000, 86_400_000).default(30_000),
    })
    .prefault({}),
  /** The embedded store's data directory (PGlite), used when no database URL is set. */
  dataDir: z.string().min(1).default(".clawguard/collector"),
  controller: controllerConfig,
  alerts: alertsConfig,
  metrics: metricsConfig,
  ingest: z
    .strictObject({
      bodyLimitBytes: bytes(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
      /** The largest memory file whose content is stored (PUT /v1/blobs/:sha256). */
      blobLimitBytes: bytes(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
      maxBatchEvents: int(1, 100_000).default(10_000),
      /**
       * A memory file's content arrives before its memory.changed event; content no event ever
       * named (its sidecar died in between) is deleted once this old. Generous: an event can sit
       * in a sidecar's spool for as long as the collector is unreachable.
       */
      orphanBlobTtlMs: int(3_600_000, 365 * 86_400_000).default(7 * 86_400_000),
      /**
       * An agent's time going back by more than this between two consecutive events of its chain
       * (its clock was stepped back) is recorded as an audit.integrity finding (clock_backwards).
       */
      timeBackwardsToleranceMs: int(0, 86_400_000).default(60_000),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** One token per sidecar: events carrying another agent's name are refused. */
      sidecars: z
        .array(
          z.strictObject({
            agent: agentName,
            token: secretRef,
            /**
             * The sidecar's sealing keys (HMAC over each event's hash): the current one and, while
             * rotating, the previous one. Set: this agent's events must carry a seal made with one.
             */
            sealKeys: z
              .array(z.strictObject({ id: sealKeyId, key: secretRef }))
              .max(2, { error: "expected the current key and at most one previous one" })
              .optional(),
          }),
        )
        .default([]),
      /** A file of `agent token` lines (one sidecar per line); default from CLAWGUARD_INGEST_TOKENS_FILE. */
      sidecarTokensFile: z.string().min(1).optional(),
      /**
       * A file of `agent keyId key` lines: each sidecar's sealing keys (at most two per agent, the
       * current and the previous); default from CLAWGUARD_SEAL_KEYS_FILE.
       */
      sealKeysFile: z.string().min(1).optional(),
      /** Token for reading the audit trail; default from CLAWGUARD_READ_TOKEN(_FILE). */
      readToken: secretRef.optional(),
    })
    .prefault({}),
});

export type CollectorConfig = z.output<typeof collectorSchema>;

export const COLLECTOR_ENV: EnvMap = {
  CLAWGUARD_COLLECTOR_LISTEN: "listen",
  CLAWGUARD_COLLECTOR_DATA_DIR: "dataDir",
  CLAWGUARD_INGEST_TOKENS_FILE: "auth.sidecarTokensFile",
  CLAWGUARD_SEAL_KEYS_FILE: "auth.sealKeysFile",
  CLAWGUARD_REDIS_KEY_PREFIX: "redis.keyPrefix",
  CLAWGUARD_FLEET_STALE_FACTOR: "fleet.staleFactor",
  CLAWGUARD_FLEET_SWEEP_MS: "fleet.sweepMs",
};

/**
 * The variables a secret falls back to when the config sets none (NAME, else the file NAME_FILE
 * names; Docker secrets), by the key they stand in for. Read where the secret is resolved (main.ts).
 */
export const COLLECTOR_SECRET_ENV = {
  "database.url": "DATABASE_URL",
  "redis.url": "REDIS_URL",
  "auth.readToken": "CLAWGUARD_READ_TOKEN",
} as const;

/**
 * The collector's config from `file` and the environment. `check` adds what is wrong beyond the
 * schema (the token files, the secrets: checkConfig's problems), listed with the schema's in one list.
 */
export function loadCollectorConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
  check?: (config: CollectorConfig) => string[],
): CollectorConfig {
  const base = file ? resolve(cwd, file, "..") : cwd;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const finish = (config: z.output<typeof collectorSchema>): CollectorConfig =>
    Object.freeze({
      ...config,
      dataDir: abs(config.dataDir),
      auth: Object.freeze({
        ...config.auth,
        ...(config.auth.sidecarTokensFile ? { sidecarTokensFile: abs(config.auth.sidecarTokensFile) } : {}),
        ...(config.auth.sealKeysFile ? { sealKeysFile: abs(config.auth.sealKeysFile) } : {}),
      }),
    });
  const config = loadConfig({
    schema: collectorSchema,
    program: "collector",
    file,
    env,
    envMap: COLLECTOR_ENV,
    ...(check ? { check: (c: z.output<typeof collectorSchema>) => check(finish(c)) } : {}),
  });
  return finish(config);
}
