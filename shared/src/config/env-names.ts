import { closest } from "./suggest.ts";

/**
 * Every CLAWGUARD_* variable something in clawguard reads: the programs' config and secrets (the
 * sidecar's SIDECAR_ENV, SIDECAR_SECRET_ENV; the collector's COLLECTOR_ENV, COLLECTOR_SECRET_ENV),
 * the CLI's, the logger's, and the build's and tests'. test/integration/env-names.test.ts keeps it
 * complete. One list for every program: `clawguard up` runs them all in one environment.
 */
export const KNOWN_ENV: ReadonlySet<string> = new Set([
  // The sidecar's config and secrets.
  "CLAWGUARD_AGENT",
  "CLAWGUARD_ROLE",
  "CLAWGUARD_HOST",
  "CLAWGUARD_WORKSPACE",
  "CLAWGUARD_BIN_DIR",
  "CLAWGUARD_STATE_DIR",
  "CLAWGUARD_SIDECAR_LISTEN",
  "CLAWGUARD_EXEC_MAX_BYTES",
  "CLAWGUARD_EXEC_PREVIEW_BYTES",
  "CLAWGUARD_EXEC_TIMEOUT_MS",
  "CLAWGUARD_SPOOL_DIR",
  "CLAWGUARD_INBOX_DIR",
  "CLAWGUARD_SPOOL_MAX_BYTES",
  "CLAWGUARD_SPOOL_FSYNC",
  "CLAWGUARD_SEAL_KEY_ID",
  "CLAWGUARD_COLLECTOR_URL",
  "CLAWGUARD_LLM_OPENCLAW_CONFIG",
  "CLAWGUARD_CONFIG",
  "CLAWGUARD_SIDECAR_TOKEN",
  "CLAWGUARD_SIDECAR_TOKEN_FILE",
  "CLAWGUARD_SEAL_KEY",
  "CLAWGUARD_SEAL_KEY_FILE",
  "CLAWGUARD_INGEST_TOKEN",
  "CLAWGUARD_INGEST_TOKEN_FILE",
  // The collector's config and secrets.
  "CLAWGUARD_COLLECTOR_CONFIG",
  "CLAWGUARD_COLLECTOR_LISTEN",
  "CLAWGUARD_COLLECTOR_DATA_DIR",
  "CLAWGUARD_INGEST_TOKENS_FILE",
  "CLAWGUARD_SEAL_KEYS_FILE",
  "CLAWGUARD_REDIS_KEY_PREFIX",
  "CLAWGUARD_FLEET_STALE_FACTOR",
  "CLAWGUARD_FLEET_SWEEP_MS",
  "CLAWGUARD_READ_TOKEN",
  "CLAWGUARD_READ_TOKEN_FILE",
  // The logger, the CLI and the agent-side clawguard.
  "CLAWGUARD_LOG_LEVEL",
  "CLAWGUARD_LOG_FORMAT",
  "CLAWGUARD_EXEC_CACHE",
  "CLAWGUARD_SESSION",
  // The build, the images and the tests.
  "CLAWGUARD_BASE_IMAGE",
  "CLAWGUARD_NODE",
  "CLAWGUARD_CACHE",
  "CLAWGUARD_COMPOSE_SCHEMA",
  "CLAWGUARD_COMPOSE_CHECK",
  // Compose interpolates it in what inject writes: the collector's published port.
  "CLAWGUARD_COLLECTOR_PORT",
  "CLAWGUARD_OPENCLAW",
  "CLAWGUARD_OPENCLAW_DIR",
  "CLAWGUARD_DOCKER",
  "CLAWGUARD_DOCKER_KEEP",
  "CLAWGUARD_REAL_COMPOSE_DIR",
  "CLAWGUARD_REAL_COMPOSE_OUT",
  "CLAWGUARD_TEST_PG",
  "CLAWGUARD_TEST_REDIS",
  "CLAWGUARD_TEST_ARTIFACTS",
  "CLAWGUARD_LINT_BUDGET",
  "CLAWGUARD_FUZZ_SEED",
  "CLAWGUARD_FUZZ_RUNS",
  "CLAWGUARD_FUZZ_REPORT",
  "CLAWGUARD_CHAOS_LONG",
  "CLAWGUARD_BENCH_REPEAT",
  "CLAWGUARD_BENCH_PIN",
  "CLAWGUARD_BENCH_BUSY",
  "CLAWGUARD_E2E_EXECS",
]);

/**
 * A warning for each CLAWGUARD_* variable set that nothing reads (a typo is otherwise silently
 * ignored), with the name it likely meant. Warnings, not errors: another tool may share the prefix.
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter(
      (name) => name.startsWith("CLAWGUARD_") && !KNOWN_ENV.has(name) && !name.startsWith("CLAWGUARD_TEST_"),
    )
    .sort()
    .map((name) => {
      const near = closest(
        name.slice("CLAWGUARD_".length),
        [...KNOWN_ENV].map((k) => k.slice("CLAWGUARD_".length)),
      );
      return `warning: ${name} is set but no clawguard program reads it${near ? `: did you mean CLAWGUARD_${near}?` : ""}`;
    });
}
