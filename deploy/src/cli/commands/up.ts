import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { type Command, parse } from "@clawguard/shared/cli/command";
import { untilSignal } from "@clawguard/shared/cli/signals";
import { mkdirp } from "@clawguard/shared/fs-dirs";
import { createLogger } from "@clawguard/shared/log";
import { configFile } from "@clawguard/sidecar/cli/config-file";
import { launcher } from "@clawguard/sidecar/cli/launcher";
import { loadSidecarConfig } from "@clawguard/sidecar/config";
import { checkStateDir, startSidecar } from "@clawguard/sidecar/main";
import { upPaths, workspaceUpPaths } from "@clawguard/sidecar/paths";
import { Globs } from "@clawguard/sidecar/sources/memory-watch/globs";

const help = `Usage: clawguard up [--workspace DIR] [--config FILE] [--collector-listen HOST:PORT] [--sidecar-listen HOST:PORT]

The quick start: a collector on the embedded store (PGlite, no services needed; PostgreSQL when
DATABASE_URL is set) and a sidecar for agent "main" on a local workspace, in one process.
Tokens are generated once into <stateDir>/up/ (mode 0600) and the embedded store is kept in
<stateDir>/collector: the sidecar's state dir (CLAWGUARD_STATE_DIR, else
$XDG_STATE_HOME/clawguard/main-<workspace id>), never the workspace, which the agent reads. What an
earlier version kept in <workspace>/.clawguard/local and .clawguard/collector is moved there.
Ctrl-C stops both.

Options:
  --workspace DIR            the agent workspace (default: the current directory)
  --config FILE              the sidecar's config, as \`clawguard sidecar\` reads it (default:
                             $CLAWGUARD_CONFIG, else <workspace>/clawguard.yaml when there is one);
                             the agent is "main" whatever it says
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
        config: { type: "string" },
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
    const baseEnv = {
      ...io.env,
      CLAWGUARD_WORKSPACE: workspace,
      CLAWGUARD_AGENT: "main",
      ...(values["sidecar-listen"] ? { CLAWGUARD_SIDECAR_LISTEN: values["sidecar-listen"] } : {}),
    };
    // The same file `clawguard sidecar` would read there (providers, probes, memory settings).
    const file = configFile(values.config && resolve(io.cwd, values.config), io.env, workspace);
    // The sidecar's own state dir, as it will find it: refused inside the workspace.
    const probe = loadSidecarConfig(file, baseEnv, workspace);
    checkStateDir(probe);
    const local = upPaths(probe.paths.stateDir);
    mkdirp(local.dir);
    adoptFromWorkspace(workspace, local, (line) => io.err(`clawguard up: ${line}\n`));
    const ingestToken = tokenFile(local.ingestToken);
    const readToken = tokenFile(local.readToken);
    writeFileSync(local.sidecarTokens, `main ${readFileSync(ingestToken, "utf8").trim()}\n`, { mode: 0o600 });
    const log = createLogger({ format: "text", level: "warn" });

    const collectorConfig = loadCollectorConfig(
      undefined,
      {
        ...io.env,
        CLAWGUARD_COLLECTOR_DATA_DIR: local.collectorData,
        CLAWGUARD_INGEST_TOKENS_FILE: local.sidecarTokens,
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
      ...baseEnv,
      CLAWGUARD_INGEST_TOKEN_FILE: ingestToken,
      CLAWGUARD_COLLECTOR_URL: collector.url,
    };
    let sidecar: Awaited<ReturnType<typeof startSidecar>>;
    let memoryFile: string | undefined;
    try {
      const sidecarConfig = loadSidecarConfig(file, sidecarEnv, workspace);
      memoryFile = watchedFile(sidecarConfig.memory.globs, workspace);
      sidecar = await startSidecar(sidecarConfig, sidecarEnv, log.child("sidecar"));
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
  config     ${file ?? `none: defaults (a clawguard.yaml in ${workspace} is read at the next start)`}
  spills     ${join(workspace, ".clawguard", "spill")}
  tokens     ${local.dir}/ (read.token for the audit API, ingest.token for the sidecar)

Try, from ${workspace}:
  ${run} exec -- seq 1 200000          # over the limit: spilled, previewed
  ${run} read <spill-id> --lines 1000:1010
  ${collectorEnv}${run} audit list
  ${collectorEnv}${run} audit verify
${memoryFile ? `  echo "a fact" >> ${memoryFile}; ${collectorEnv}${run} memory history ${memoryFile}\n` : ""}  curl -s ${sidecar.url}/readyz                 # health: spool, shipper, memory, LLM providers

LLM calls go through the context guard once a provider is in llm.providers (${file ?? join(workspace, "clawguard.yaml")})
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

/**
 * A file the memory watcher watches, for the banner's memory hint: MEMORY.md, else the first glob
 * that names one file (no wildcard, safe to type in a shell), else memory/notes.md, in the
 * workspace or a folder of it that is there; undefined when none (the hint is left out rather than a command that fails).
 */
export function watchedFile(globs: readonly string[], workspace: string): string | undefined {
  const watched = new Globs(globs);
  return ["MEMORY.md", ...globs, "memory/notes.md"].find(
    (path) =>
      /^[\w-][\w.-]*(\/[\w.-]+)*$/.test(path) &&
      !path.split("/").includes("..") &&
      watched.matches(path) &&
      (!path.includes("/") || isReal(join(workspace, dirname(path)), "dir")),
  );
}

/** Moves a file or folder, across filesystems too (the workspace and the state dir may be two). */
function move(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    cpSync(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    rmSync(from, { recursive: true, force: true });
  }
}

/** Whether `path` is there and of the kind, not through a link (the workspace is the agent's). */
function isReal(path: string, kind: "file" | "dir"): boolean {
  try {
    const stat = lstatSync(path);
    return kind === "file" ? stat.isFile() : stat.isDirectory();
  } catch {
    return false;
  }
}

/**
 * What an earlier `clawguard up` kept in the workspace (its tokens, the embedded store), where
 * the agent reads it: moved to the state dir, each move said. A token the state dir already has
 * wins (the one in the workspace is removed); a store in both places is left and named.
 */
function adoptFromWorkspace(
  workspace: string,
  local: ReturnType<typeof upPaths>,
  say: (line: string) => void,
): void {
  const old = workspaceUpPaths(workspace);
  for (const name of ["ingest.token", "read.token", "sidecar-tokens"]) {
    const from = join(old.tokens, name);
    if (!isReal(from, "file")) continue;
    const to = join(local.dir, name);
    if (existsSync(to)) {
      rmSync(from, { force: true });
      say(`removed ${from} from the workspace (the agent could read it): ${to} is the one in use`);
    } else {
      move(from, to);
      say(`moved ${from} out of the workspace (the agent could read it) to ${to}`);
    }
  }
  if (isReal(old.tokens, "dir") && readdirSync(old.tokens).length === 0) rmdirSync(old.tokens);
  if (!isReal(old.collectorData, "dir")) return;
  if (existsSync(local.collectorData)) {
    say(
      `${old.collectorData} is an older embedded store, left in the workspace (the agent can read it): the one in use is ${local.collectorData}; delete the older one`,
    );
  } else {
    move(old.collectorData, local.collectorData);
    say(`moved the embedded store ${old.collectorData} out of the workspace to ${local.collectorData}`);
  }
}
