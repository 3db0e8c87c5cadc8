import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import { composeVerdict, type Verdict } from "./compose-check.ts";
import { composeSchemaPath } from "./compose-schema.ts";
import { InjectError } from "./errors.ts";
import { readDotEnv } from "./host-path.ts";
import { agentsIn, inject, removeInjection } from "./inject.ts";
import {
  applyOpenClaw,
  applyRestore,
  BACKUP_SUFFIX,
  type OpenClawPlan,
  planOpenClaw,
  planRestore,
  type RestorePlan,
} from "./openclaw-files.ts";
import { DEFAULTS } from "./plan.ts";
import { changeSummary, openclawSummary, removeSummary, restoreSummary, todo } from "./report.ts";
import { decodeUtf8 } from "./text.ts";

/**
 * `clawguard inject`. The shapes below are those of `Command`/`Io` in
 * `@clawguard/sidecar/cli/command` (deploy does not depend on the sidecar package).
 */
export interface Io {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: (text: string | Uint8Array) => void;
  err: (text: string) => void;
}

export interface Command {
  name: string;
  help: string;
  run(args: string[], io: Io): Promise<number>;
}

const help = `Usage: clawguard inject <compose.yml> [-o out.yml] [--remove] [--no-openclaw] [options]

Adds clawguard to a Docker Compose file: a sidecar beside every OpenClaw agent service (its
network namespace, workspace read-write, state read-only; a config, clawguard-sidecar-<agent>,
with its probe of OpenClaw's /readyz on the port the agent's command names, --port, else 18789),
the collector, its own Redis (never the app's: on clawguard-control, an internal network only the
collector and the routers join), PostgreSQL when the file has none (there too), the clawguard-bin
volume (the exec guard, read-only at /opt/clawguard/bin in every agent), each agent's own inbox
volume (clawguard-inbox-<agent> at /var/spool/clawguard, in the agent and its sidecar alone) and
the secrets. A sidecar runs as its agent's user: when the agent sets one. Comments, key order and everything else stay as they are; every added
line is marked, so --remove takes out exactly what was added and injecting again changes nothing.

Agents: services labelled clawguard.role (gateway | sub-agent | bot; none excludes), or running an
OpenClaw image (repository named openclaw, or moltbot/clawdbot, its former names:
ghcr.io/openclaw/openclaw, openclaw/openclaw, openclaw:local) with the gateway (no command
override, or one that mentions "gateway").
Workspace: the mount whose target ends in /workspace (or label clawguard.workspace: PATH); with
none, OpenClaw's default <state>/workspace, watched through the state mount (then read-write).
State: the mount whose target ends in /.openclaw (or label clawguard.state: PATH).
High availability: label a gateway clawguard.ha: standby to add <name>-standby (profile
clawguard-standby: never started by default) and <name>-router (takes over its published ports
and serves each from the live one: the gateway port, the one its command names, --port, else
18789, and the others, such as OpenClaw's bridge 18790; a port range stays with the gateway), and to configure the collector's failover controller (config clawguard-collector: the group and the
docker actuator in the Compose project); the collector then gets /var/run/docker.sock (root on the
host) and the group DOCKER_GID, which must be set. Without an HA gateway it gets neither.

OpenClaw config: when an agent's state directory is a bind mount inject can resolve on this host
(relative to the compose file, absolute, ~, or \${VAR:-default} from the environment or .env) and
openclaw.json is there, inject edits it: /opt/clawguard/bin added to tools.exec.pathPrepend, and
every provider's baseUrl pointed at the sidecar (http://127.0.0.1:18801/llm/<id>). Each change is a
text edit of just that value: comments and formatting stay. The original is kept first as
openclaw.json${BACKUP_SUFFIX} (same mode and owner); the edit is written atomically.
The providers' real URLs go into the compose file, as a config per agent (clawguard-sidecar-<agent>)
that its sidecars read (CLAWGUARD_CONFIG). The edit is made only with -o (to stdout, or with
--no-openclaw, openclaw.json is only read, and the edit is printed as a step). OpenClaw reloads the
file at once, so its LLM calls need the sidecar from then on: start the result right away. Named
volumes cannot be reached from here: the edit is printed as a step.

Options:
  -o, --output FILE        write here (atomically) instead of stdout
  --remove                 take the injection out again, and put back each openclaw.json inject
                           edited (from its backup, if the file is still as inject left it)
  --no-openclaw            leave openclaw.json files as they are (read them only); print the edit
  --image IMAGE            sidecar image (default ${DEFAULTS.image})
  --collector-image IMAGE  collector and router image (default ${DEFAULTS.collectorImage})
  --postgres-image IMAGE   when PostgreSQL is added (default ${DEFAULTS.postgresImage})
  --redis-image IMAGE      when Redis is added (default ${DEFAULTS.redisImage})
  --secrets-dir DIR        secret files, relative to the compose file (default ${DEFAULTS.secretsDir})
  --otel URL               an OTLP/HTTP endpoint (a collector such as the OpenTelemetry Collector,
                           Jaeger, Tempo) every sidecar sends its traces and metrics to: written as
                           OTEL_EXPORTER_OTLP_ENDPOINT in the sidecars' environment (an
                           endpoint that needs headers: add OTEL_EXPORTER_OTLP_HEADERS yourself)
  -h, --help               this help

Exit codes: 0 done; 2 bad input, an openclaw.json that cannot be read or is not JSON5 (nothing
written), or one that could not be written after the compose output was (the message says so).`;

/**
 * The real Compose's verdict on the output, where `docker compose` is on PATH. A result it refuses
 * while it accepts the input is inject's fault: nothing is written (exit 1). One it refuses as it
 * was (an env_file not there yet, a variable the user sets later) is a warning: inject goes on.
 */
function checkWithCompose(
  input: string,
  output: string,
  dir: string,
  env: NodeJS.ProcessEnv,
): { verdict: Verdict; warnings: string[] } | { refused: string } {
  const verdict = composeVerdict(output, dir, env);
  if (!verdict.checked || verdict.ok) return { verdict, warnings: [] };
  const before = composeVerdict(input, dir, env);
  if (before.checked && before.ok) {
    return {
      refused: `Compose ${verdict.version} refuses the injected file (docker compose config -q), and nothing was written; it accepts the file as it is, so this is a bug of clawguard inject: ${verdict.problem}`,
    };
  }
  return {
    verdict,
    warnings: [
      `Compose ${verdict.version} refuses this file as it was, before inject too (docker compose config -q): ${verdict.problem}`,
    ],
  };
}

/** What checked the output: the Compose Specification's schema, the real Compose, or neither. */
function checkedLine(schemaChecked: boolean, verdict: Verdict): string {
  const by = [
    ...(schemaChecked ? ["the Compose Specification's schema"] : []),
    ...(verdict.checked ? [`Compose ${verdict.version} (docker compose config -q)`] : []),
  ];
  if (by.length > 0) return `checked by ${by.join(" and ")}\n`;
  const schema = composeSchemaPath() ? `no schema at ${composeSchemaPath()}` : "no schema";
  const why = verdict.checked ? "" : verdict.why;
  return `not checked: ${why} (docker compose config -q), and ${schema} (set CLAWGUARD_COMPOSE_SCHEMA to the compose-spec project's compose-spec.json)\n`;
}

/** One plan per file: agents that share a state directory share its openclaw.json. */
function unique<T extends OpenClawPlan | RestorePlan>(plans: readonly T[]): T[] {
  const seen = new Set<string>();
  return plans.filter((p) => !p.file || (!seen.has(p.file) && seen.add(p.file) !== undefined));
}

type Values = Record<string, string | boolean | undefined>;

/** The arguments, or the exit code when they are wrong or ask for help (said on the way). */
function parse(args: string[], io: Io): { values: Values; positionals: string[] } | number {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: "string", short: "o" },
        remove: { type: "boolean" },
        "no-openclaw": { type: "boolean" },
        image: { type: "string" },
        "collector-image": { type: "string" },
        otel: { type: "string" },
        "postgres-image": { type: "string" },
        "redis-image": { type: "string" },
        "secrets-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    io.err(`clawguard inject: ${(err as Error).message.split("\n")[0]}\nRun: clawguard inject --help\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${help}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    io.err(`clawguard inject: expected one compose file, got ${positionals.length}\n${help}\n`);
    return 2;
  }
  const otel = values.otel;
  if (typeof otel === "string" && !isHttpUrl(otel)) {
    io.err(`clawguard inject: --otel: expected an http:// or https:// URL, got ${JSON.stringify(otel)}\n`);
    return 2;
  }
  return { values, positionals };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/** The compose file's text (UTF-8), or an InjectError saying why not. */
function readCompose(input: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(input);
  } catch (err) {
    throw new InjectError(
      `${input}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return decodeUtf8(bytes);
  } catch (err) {
    throw new InjectError((err as Error).message);
  }
}

/** What one inject or remove makes: the compose output, OpenClaw's edit, and the report. */
interface Change {
  output: string;
  /** Writes OpenClaw's files; returns what went wrong short of failing. */
  after: () => string[];
  /** The report, given what went wrong writing OpenClaw's files (an owner not kept). */
  report: (problems: string[]) => string;
}

/** Where and how a change is made: OpenClaw's files are written only when `write`. */
interface Target {
  text: string;
  composeDir: string;
  env: NodeJS.ProcessEnv;
  write: boolean;
  /** Why OpenClaw's files are left alone, when they are. */
  readOnly: string | undefined;
}

/** --remove: the injection taken out, and each agent's openclaw.json restored. */
function removal({ text, composeDir, env, write, readOnly }: Target): Change {
  const removed = removeInjection(text);
  const restores = unique(agentsIn(removed.text).map((a) => planRestore(a, composeDir, env)));
  return {
    output: removed.text,
    after: () => (write ? restores.flatMap(applyRestore) : []),
    report: (problems) => `${removeSummary(removed)}${restoreSummary(restores, write, problems, readOnly)}`,
  };
}

/** The injection, and each agent's openclaw.json pointed at its sidecar. */
function injection(
  { text, composeDir, env, write, readOnly }: Target,
  str: (k: string) => string | undefined,
): Change | { refused: string } {
  const plans: OpenClawPlan[] = [];
  const result = inject(
    text,
    {
      image: str("image") ?? DEFAULTS.image,
      collectorImage: str("collector-image") ?? DEFAULTS.collectorImage,
      postgresImage: str("postgres-image") ?? DEFAULTS.postgresImage,
      redisImage: str("redis-image") ?? DEFAULTS.redisImage,
      secretsDir: str("secrets-dir") ?? DEFAULTS.secretsDir,
      otelEndpoint: str("otel"),
      vars: { ...readDotEnv(join(composeDir, ".env")), ...env },
    },
    (agent) => {
      const plan = planOpenClaw(agent, composeDir, env, write);
      plans.push(plan);
      return plan.edit?.upstreams;
    },
  );
  const checked = checkWithCompose(text, result.text, composeDir, env);
  if ("refused" in checked) return checked;
  result.warnings.push(...checked.warnings);
  return {
    output: result.text,
    after: () => (write ? unique(plans).flatMap(applyOpenClaw) : []),
    report: (problems) => {
      const o = { plans, write, readOnly, problems };
      return `${changeSummary(result)}${openclawSummary(o)}\n${todo(result, o)}${checkedLine(result.schemaChecked, checked.verdict)}`;
    },
  };
}

export const injectCommand: Command = {
  name: "inject",
  help,
  async run(args, io) {
    const parsed = parse(args, io);
    if (typeof parsed === "number") return parsed;
    const { values, positionals } = parsed;
    const input = resolve(io.cwd, positionals[0] ?? "");
    const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
    try {
      const text = readCompose(input);
      // Everything is read and checked first; then the compose output, then OpenClaw's files.
      // OpenClaw reloads openclaw.json at once: it is edited only when the result goes to a file (to
      // be run next), never when someone is just looking at it on stdout.
      const readOnly = values["no-openclaw"]
        ? "--no-openclaw"
        : str("output") === undefined
          ? "the compose file went to stdout; with -o, inject makes the edit"
          : undefined;
      const target: Target = {
        text,
        composeDir: dirname(input),
        env: io.env,
        write: readOnly === undefined,
        readOnly,
      };
      const change = values.remove ? removal(target) : injection(target, str);
      if ("refused" in change) {
        io.err(`clawguard inject: ${positionals[0]}: ${change.refused}\n`);
        return 1;
      }
      const { output, after, report } = change;
      const file = str("output");
      if (file) writeFileAtomic(resolve(io.cwd, file), output, 0o644);
      else io.out(output);
      const problems = after();
      io.err(`${report(problems)}${file ? `wrote ${file}\n` : ""}`);
      return 0;
    } catch (err) {
      if (err instanceof InjectError) {
        io.err(`clawguard inject: ${positionals[0]}: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  },
};
