#!/usr/bin/env node
import { ClawguardError, describeError } from "@clawguard/shared/errors";
import type { Command, Io } from "./command.ts";

/** Commands load lazily: `clawguard exec` must start fast and small, without the collector's code. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  up: {
    summary: "quick start: collector (embedded store) + sidecar for a local workspace",
    load: async () => (await import("./commands/up.ts")).upCommand,
  },
  exec: {
    summary: "run a command; spill and preview output over the limit",
    load: async () => (await import("./commands/exec.ts")).execCommand,
  },
  read: {
    summary: "page through a spilled output",
    load: async () => (await import("./commands/read.ts")).readCommand,
  },
  sidecar: {
    summary: "run the sidecar (exec guard API, spool, shipper)",
    load: async () => (await import("./commands/sidecar.ts")).sidecarCommand,
  },
  collector: {
    summary: "run the collector (ingest, audit trail, verify)",
    load: async () => (await import("./commands/collector.ts")).collectorCommand,
  },
  audit: {
    summary: "list and verify the audit trail",
    load: async () => (await import("./commands/audit.ts")).auditCommand,
  },
};

const USAGE = `Usage: clawguard <command> [options]   (clawguard <command> --help for each)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}
`;

/** Exit codes: 0 ok, 1 failure, 2 usage or bad input, 78 bad config (EX_CONFIG). */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.err(`clawguard: unknown command ${JSON.stringify(name)}\n${USAGE}`);
    return 2;
  }
  try {
    return await (await entry.load()).run(rest, io);
  } catch (err) {
    if (err instanceof ClawguardError) {
      io.err(`clawguard ${name}: ${err.message}\n`);
      return err.code === "config.invalid"
        ? 78
        : err.code === "input.invalid" || err.code === "not_found"
          ? 2
          : 1;
    }
    io.err(`clawguard ${name}: ${describeError(err)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  const io: Io = {
    env: process.env,
    // `pnpm clawguard` runs from the repo root; INIT_CWD is where the user typed it.
    cwd:
      process.env.npm_lifecycle_event === "clawguard" && process.env.INIT_CWD
        ? process.env.INIT_CWD
        : process.cwd(),
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
  };
  // EPIPE on stdout (e.g. `| head`) is not an error of ours.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
  });
  const code = await main(process.argv.slice(2), io);
  // Let stdout drain before exiting (large previews, pass-through output).
  process.stdout.write("", () => process.exit(code));
}
