import type { Command } from "@clawguard/shared/cli/command";
import { serviceCommand } from "@clawguard/shared/cli/service";
import { loadCollectorConfig } from "../../config.ts";
import { checkConfig, configProblems, startCollector } from "../../main.ts";

const help = `Usage: clawguard collector [--config FILE] [--check | --print-config]

Runs the collector: events, heartbeats and memory contents from the sidecars; the audit trail
(GET /v1/audit, /v1/audit/verify), memory history, the fleet and its incidents; /healthz, /readyz.
Listens on 127.0.0.1:18800 by default (listen).
Storage: PostgreSQL when DATABASE_URL (or DATABASE_URL_FILE) is set, else the embedded store
(PGlite) in dataDir (default .clawguard/collector). Migrations are applied at start.
Liveness: Redis when REDIS_URL (or REDIS_URL_FILE) is set (any number of replicas), else in process.

Options:
  --config FILE      YAML config (default: $CLAWGUARD_COLLECTOR_CONFIG); CLAWGUARD_* env overrides it
  --check            validate the config (and tokens) and exit
  --print-config     print the effective config (secrets redacted) and exit
  -h, --help         this help

Secrets: sidecar tokens from auth.sidecars, auth.sidecarTokensFile or CLAWGUARD_INGEST_TOKENS_FILE
("agent token" per line); the read token from CLAWGUARD_READ_TOKEN or CLAWGUARD_READ_TOKEN_FILE.`;

export const collectorCommand: Command = serviceCommand({
  name: "collector",
  help,
  // Every problem in one list: the schema's and the token files' and secrets' (checkConfig's).
  load: (flag, io) =>
    loadCollectorConfig(flag ?? io.env.CLAWGUARD_COLLECTOR_CONFIG, io.env, io.cwd, (config) =>
      configProblems(config, io.env),
    ),
  check(config, io) {
    checkConfig(config, io.env);
    return ["collector config is valid"];
  },
  logName: () => "collector",
  start: (config, io, log) => startCollector(config, io.env, log),
});
