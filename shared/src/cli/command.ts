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
      args: negativeValues(args, options),
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    const message = (err as Error).message.split("\n").filter(Boolean).join(" ");
    throw new ClawguardError("input.invalid", `${message}\nRun: clawguard ${command} --help`);
  }
}

/**
 * `--limit -3` as `--limit=-3`: the flag takes a value, and a negative number is that value, for
 * the flag's own check to refuse in its words (Node would call it ambiguous and suggest the `=`).
 */
function negativeValues(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") return [...out, ...args.slice(i)];
    const next = args[i + 1];
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** The largest value an integer flag takes unless told otherwise: 2^53 - 1, exact as a number. */
const MAX_INT_FLAG = Number.MAX_SAFE_INTEGER;

/** An integer flag in min..max, or a usage error that says the range and what it got. */
export function intFlag(
  name: string,
  value: string | undefined,
  min = 0,
  max = MAX_INT_FLAG,
): number | undefined {
  if (value === undefined) return undefined;
  const shown = /^-?\d+$/.test(value) ? value : JSON.stringify(value);
  if (!/^\d+$/.test(value) || Number(value) < min) {
    const expected = min === 1 ? "a positive integer" : `an integer >= ${min}`;
    throw new ClawguardError("input.invalid", `--${name}: expected ${expected}, got ${shown}`);
  }
  if (Number(value) > max) {
    throw new ClawguardError("input.invalid", `--${name}: expected at most ${max}, got ${shown}`);
  }
  return Number(value);
}
