import { type Command, parse } from "@clawguard/shared/cli/command";
import { untilSignal } from "@clawguard/shared/cli/signals";
import { loggerFromEnv } from "@clawguard/shared/log";
import { redactObject } from "@clawguard/shared/redact";
import { loadCollectorConfig } from "../../config.ts";
import { checkConfig, startCollector } from "../../main.ts";

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

export const collectorCommand: Command = {
  name: "collector",
  help,
  async run(args, io) {
    const { values } = parse(
      "collector",
      args,
      { config: { type: "string" }, check: { type: "boolean" }, "print-config": { type: "boolean" } },
      false,
    );
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    const config = loadCollectorConfig(values.config ?? io.env.CLAWGUARD_COLLECTOR_CONFIG, io.env, io.cwd);
    if (values["print-config"]) {
      io.out(`${JSON.stringify(redactObject(config), null, 2)}\n`);
      return 0;
    }
    if (values.check) {
      checkConfig(config, io.env);
      io.out("collector config is valid\n");
      return 0;
    }
    const log = loggerFromEnv(io.env, "collector");
    const stopping = untilSignal((message) => log.error(message));
    const collector = await startCollector(config, io.env, log);
    const signal = await stopping;
    log.info("stopping", { signal });
    const t0 = performance.now();
    await collector.stop();
    log.info("stopped", { ms: Math.round(performance.now() - t0) });
    return 0;
  },
};
