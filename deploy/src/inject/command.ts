import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import { composeSchemaPath } from "./compose-schema.ts";
import { InjectError } from "./errors.ts";
import { inject, removeInjection } from "./inject.ts";
import { DEFAULTS } from "./plan.ts";
import { changeSummary, removeSummary, todo } from "./report.ts";

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

const help = `Usage: clawguard inject <compose.yml> [-o out.yml] [--remove] [options]

Adds clawguard to a Docker Compose file: a sidecar beside every OpenClaw agent service (its
network namespace, workspace read-write, state read-only), the collector, PostgreSQL and Redis when
the file has none, the clawguard-bin volume (the exec guard, read-only at /opt/clawguard/bin in
every agent) and the secrets. Comments, key order and everything else stay as they are; every added
line is marked, so --remove takes out exactly what was added and injecting again changes nothing.

Agents: services labelled clawguard.role (gateway | sub-agent | bot; none excludes), or running an
OpenClaw image (repository named openclaw: ghcr.io/openclaw/openclaw, openclaw/openclaw,
openclaw:local) with the gateway (no command override, or one that mentions "gateway").
Workspace: the mount whose target ends in /workspace (or label clawguard.workspace: PATH).
State: the mount whose target ends in /.openclaw (or label clawguard.state: PATH).
High availability: label a gateway clawguard.ha: standby to add <name>-standby (profile
clawguard-standby: never started by default) and <name>-router (takes over its published ports).

Options:
  -o, --output FILE        write here (atomically) instead of stdout
  --remove                 take the injection out again
  --image IMAGE            sidecar and router image (default ${DEFAULTS.image})
  --collector-image IMAGE  collector image (default ${DEFAULTS.collectorImage})
  --postgres-image IMAGE   when PostgreSQL is added (default ${DEFAULTS.postgresImage})
  --redis-image IMAGE      when Redis is added (default ${DEFAULTS.redisImage})
  --secrets-dir DIR        secret files, relative to the compose file (default ${DEFAULTS.secretsDir})
  -h, --help               this help

Exit codes: 0 done, 2 bad input (nothing written).`;

export const injectCommand: Command = {
  name: "inject",
  help,
  async run(args, io) {
    let values: Record<string, string | boolean | undefined>;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        options: {
          output: { type: "string", short: "o" },
          remove: { type: "boolean" },
          image: { type: "string" },
          "collector-image": { type: "string" },
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
    const input = resolve(io.cwd, positionals[0] ?? "");
    const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
    try {
      let text: string;
      try {
        text = readFileSync(input, "utf8");
      } catch (err) {
        throw new InjectError(
          `${input}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      let output: string;
      let report: string;
      if (values.remove) {
        const removed = removeInjection(text);
        output = removed.text;
        report = removeSummary(removed);
      } else {
        const result = inject(text, {
          image: str("image") ?? DEFAULTS.image,
          collectorImage: str("collector-image") ?? DEFAULTS.collectorImage,
          postgresImage: str("postgres-image") ?? DEFAULTS.postgresImage,
          redisImage: str("redis-image") ?? DEFAULTS.redisImage,
          secretsDir: str("secrets-dir") ?? DEFAULTS.secretsDir,
        });
        output = result.text;
        report = `${changeSummary(result)}\n${todo(result)}`;
        if (!result.schemaChecked)
          report += `not checked against the Compose Specification: no schema at ${composeSchemaPath()} (set CLAWGUARD_COMPOSE_SCHEMA)\n`;
      }
      const file = str("output");
      if (file) {
        writeFileAtomic(resolve(io.cwd, file), output, 0o644);
        io.err(`${report}wrote ${file}\n`);
      } else {
        io.out(output);
        io.err(report);
      }
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
