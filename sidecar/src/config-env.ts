import type { EnvMap } from "@clawguard/shared/config/load";

/** The sidecar config's environment variables and the keys they set (over the file's). */
export const SIDECAR_ENV: EnvMap = {
  CLAWGUARD_AGENT: "agent",
  CLAWGUARD_ROLE: "role",
  CLAWGUARD_HOST: "host",
  CLAWGUARD_WORKSPACE: "workspace",
  CLAWGUARD_BIN_DIR: "binDir",
  CLAWGUARD_STATE_DIR: "stateDir",
  CLAWGUARD_INBOX_DIR: "inboxDir",
  CLAWGUARD_SIDECAR_LISTEN: "api.listen",
  CLAWGUARD_EXEC_MAX_BYTES: "exec.maxBytes",
  CLAWGUARD_EXEC_PREVIEW_BYTES: "exec.previewBytes",
  CLAWGUARD_EXEC_TIMEOUT_MS: "exec.timeoutMs",
  CLAWGUARD_SPOOL_DIR: "spool.dir",
  CLAWGUARD_SPOOL_MAX_BYTES: "spool.maxBytes",
  CLAWGUARD_SPOOL_FSYNC: "spool.fsync",
  CLAWGUARD_SEAL_KEY_ID: "spool.sealKeyId",
  CLAWGUARD_COLLECTOR_URL: "shipper.url",
  CLAWGUARD_LLM_OPENCLAW_CONFIG: "llm.openclawConfig",
};

/**
 * The variables a secret falls back to when the config sets none (NAME, else the file NAME_FILE
 * names; Docker secrets), by the key they stand in for. Read where the secret is resolved (main.ts).
 */
export const SIDECAR_SECRET_ENV = {
  "api.token": "CLAWGUARD_SIDECAR_TOKEN",
  "spool.sealKey": "CLAWGUARD_SEAL_KEY",
  "shipper.token": "CLAWGUARD_INGEST_TOKEN",
} as const;
