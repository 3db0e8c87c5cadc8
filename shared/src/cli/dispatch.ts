import { enableCompileCache, getCompileCacheDir } from "node:module";
import { join } from "node:path";
import { ClawguardError, describeError } from "@clawguard/shared/errors";
import { privateDir, userTmpDir } from "@clawguard/shared/fs-dirs";
import { VERSION } from "@clawguard/shared/version";
import type { Command, Io } from "./command.ts";

/** A command table: commands load lazily, so `clawguard exec` starts fast and small. */
export type Commands = Record<string, { summary: string; load: () => Promise<Command> }>;

function usage(commands: Commands): string {
  return `Usage: clawguard <command> [options]   (clawguard <command> --help for each; --version)

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}
`;
}

/** Exit codes: 0 ok, 1 failure, 2 usage or bad input, 78 bad config (EX_CONFIG). */
export async function dispatch(commands: Commands, argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(usage(commands));
    return name === undefined ? 2 : 0;
  }
  // `clawguard --version`, and `clawguard <command> --version` for every command.
  if (name === "--version" || name === "-V" || name === "version" || rest[0] === "--version") {
    io.out(`clawguard ${VERSION} (node ${process.versions.node})\n`);
    return 0;
  }
  const entry = commands[name];
  if (!entry) {
    io.err(`clawguard: unknown command ${JSON.stringify(name)}\n${usage(commands)}`);
    return 2;
  }
  try {
    return await (await entry.load()).run(rest, io);
  } catch (err) {
    if (err instanceof ClawguardError) {
      // A message that names its command already ("clawguard route nginx: ...") is not prefixed twice.
      const named = err.message.startsWith(`clawguard ${name}`)
        ? err.message
        : `clawguard ${name}: ${err.message}`;
      io.err(`${named}\n`);
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

/**
 * V8's code cache for what loads from here on (unless the agent-side file's loader enabled it), in a
 * folder only this user can write: Node's default, $TMPDIR/node-compile-cache, is shared, and
 * another user could plant code there that this one would run.
 */
function enableOwnCompileCache(): void {
  if (getCompileCacheDir()) return;
  const dir = userTmpDir("clawguard");
  if (privateDir(dir)) enableCompileCache(join(dir, "node-compile-cache"));
}

/** The process entry: real stdio, exit with the command's code once stdout has drained. */
export async function runAsProgram(commands: Commands): Promise<never> {
  enableOwnCompileCache();
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
  const code = await dispatch(commands, process.argv.slice(2), io);
  // Let stdout drain before exiting (large previews, pass-through output).
  return new Promise<never>(() => process.stdout.write("", () => process.exit(code)));
}
