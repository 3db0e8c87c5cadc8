import { type ParseArgsConfig, parseArgs } from "node:util";
import { ClawguardError } from "@clawguard/shared/errors";

export interface Command {
  name: string;
  /** The full --help text. */
  help: string;
  run(args: string[], io: Io): Promise<number>;
}

export interface Io {
  env: NodeJS.ProcessEnv;
  /** Where the user ran the command (pnpm runs scripts from the repo root and sets INIT_CWD). */
  cwd: string;
  out: (text: string | Uint8Array) => void;
  err: (text: string) => void;
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with `--help`, and errors that say which flag is wrong and how to get help. */
export function parse<O extends Options>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = true,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    // Node's own words, whole: "argument is ambiguous" goes on to say how to pass a value like -3.
    const message = (err as Error).message.split("\n").filter(Boolean).join(" ");
    throw new ClawguardError("input.invalid", `${message}\nRun: clawguard ${command} --help`);
  }
}

export function intFlag(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new ClawguardError(
      "input.invalid",
      `--${name}: expected an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}
