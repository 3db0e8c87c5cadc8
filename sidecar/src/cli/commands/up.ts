import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { createLogger } from "@clawguard/shared/log";
import { loadSidecarConfig } from "../../config.ts";
import { startSidecar } from "../../main.ts";
import { type Command, parse } from "../command.ts";
import { launcher } from "../launcher.ts";
import { untilSignal } from "../signals.ts";

const help = `Usage: clawguard up [--workspace DIR] [--collector-listen HOST:PORT] [--sidecar-listen HOST:PORT]

The quick start: a collector on the embedded store (PGlite, no services needed; PostgreSQL when
DATABASE_URL is set) and a sidecar for agent "main" on a local workspace, in one process.
Tokens are generated once into <workspace>/.clawguard/local/ (mode 0600). Ctrl-C stops both.

Options:
  --workspace DIR            the agent workspace (default: the current directory)
  --collector-listen H:P     default 127.0.0.1:18800
  --sidecar-listen H:P       default 127.0.0.1:18801
  -h, --help                 this help`;

function tokenFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString("hex"), { mode: 0o600 });
  return path;
}

export const upCommand: Command = {
  name: "up",
  help,
  async run(args, io) {
    const { values } = parse(
      "up",
      args,
      {
        workspace: { type: "string" },
        "collector-listen": { type: "string" },
        "sidecar-listen": { type: "string" },
      },
      false,
    );
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    const workspace = resolve(io.cwd, values.workspace ?? ".");
    const local = join(workspace, ".clawguard", "local");
    mkdirSync(local, { recursive: true, mode: 0o700 });
    const ingestToken = tokenFile(join(local, "ingest.token"));
    const readToken = tokenFile(join(local, "read.token"));
    const sidecarTokens = join(local, "sidecar-tokens");
    writeFileSync(sidecarTokens, `main ${readFileSync(ingestToken, "utf8").trim()}\n`, { mode: 0o600 });
    const log = createLogger({ format: "text", level: "warn" });

    const collectorConfig = loadCollectorConfig(
      undefined,
      {
        ...io.env,
        CLAWGUARD_COLLECTOR_DATA_DIR: join(workspace, ".clawguard", "collector"),
        CLAWGUARD_INGEST_TOKENS_FILE: sidecarTokens,
        CLAWGUARD_READ_TOKEN_FILE: readToken,
        ...(values["collector-listen"] ? { CLAWGUARD_COLLECTOR_LISTEN: values["collector-listen"] } : {}),
      },
      workspace,
    );
    const stopping = untilSignal((message) => io.err(`${message}\n`));
    const collector = await startCollector(
      collectorConfig,
      { ...io.env, CLAWGUARD_READ_TOKEN_FILE: readToken },
      log.child("collector"),
    );
    const sidecarEnv = {
      ...io.env,
      CLAWGUARD_WORKSPACE: workspace,
      CLAWGUARD_AGENT: "main",
      CLAWGUARD_INGEST_TOKEN_FILE: ingestToken,
      CLAWGUARD_COLLECTOR_URL: collector.url,
      ...(values["sidecar-listen"] ? { CLAWGUARD_SIDECAR_LISTEN: values["sidecar-listen"] } : {}),
    };
    let sidecar: Awaited<ReturnType<typeof startSidecar>>;
    try {
      sidecar = await startSidecar(
        loadSidecarConfig(undefined, sidecarEnv, workspace),
        sidecarEnv,
        log.child("sidecar"),
      );
    } catch (err) {
      await collector.stop();
      throw err;
    }
    const store =
      collector.store.db.kind === "pglite"
        ? `embedded PGlite in ${collectorConfig.dataDir}`
        : "PostgreSQL (DATABASE_URL)";
    const run = launcher(io.env);
    // The commands find the collector at its default address; elsewhere they must be told.
    const collectorEnv =
      collector.url === DEFAULT_COLLECTOR_URL ? "" : `CLAWGUARD_COLLECTOR_URL=${collector.url} `;
    io.out(`clawguard is up.
  collector  ${collector.url}   store: ${store}
  sidecar    ${sidecar.url}   agent: main   workspace: ${workspace}
  spills     ${join(workspace, ".clawguard", "spill")}
  tokens     ${local}/ (read.token for the audit API, ingest.token for the sidecar)

Try, from ${workspace}:
  ${run} exec -- seq 1 200000          # over the limit: spilled, previewed
  ${run} read <spill-id> --lines 1000:1010
  ${collectorEnv}${run} audit list
  ${collectorEnv}${run} audit verify
  echo "a fact" >> MEMORY.md; ${collectorEnv}${run} memory history MEMORY.md
  curl -s ${sidecar.url}/readyz                 # health: spool, shipper, memory, LLM providers

LLM calls go through the context guard once a provider is in llm.providers (clawguard.yaml here)
and the agent's baseUrl is ${sidecar.url}/llm/<provider>: see the README.

Ctrl-C stops both.
`);
    const signal = await stopping;
    io.err(`stopping (${signal}); events not yet shipped stay in the spool\n`);
    // Both at once: the sidecar does not wait for the collector on its way out.
    const stops = await Promise.allSettled([sidecar.stop(), collector.stop()]);
    const failed = stops.flatMap((s) => (s.status === "rejected" ? [String(s.reason)] : []));
    if (failed.length > 0) throw new Error(failed.join("\n"));
    return 0;
  },
};

const DEFAULT_COLLECTOR_URL = "http://127.0.0.1:18800";
