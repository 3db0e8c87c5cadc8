import type { Word } from "./script.ts";

/**
 * How a wrapper's options are read, as its getopt reads them: which short letters and long names
 * take a value, and whether options stop at the first operand (`+` in the optstring).
 */
export interface OptionSpec {
  /** Short letters that take a value (`-u root`, `-uroot`). */
  short?: string;
  /** Long names that take a value (`--user root`, `--user=root`). */
  long?: readonly string[];
  /** Options also start with `+` (a shell's `+o posix`, `+e`). */
  plus?: boolean;
}

export interface ReadOptions {
  /** Options seen, by letter or long name, with their values (the last one given). */
  seen: Map<string, string>;
  /** Every option given, in order, with its value: `-u A -u B` is two. */
  all: [string, string][];
  /** Index of the first operand in args. */
  rest: number;
  /** Set when an option word is not known before the run. */
  dynamic?: string;
}

/** Reads leading options up to the first operand or `--`. */
export function readOptions(args: readonly Word[], spec: OptionSpec): ReadOptions {
  const seen = new Map<string, string>();
  const all: [string, string][] = [];
  const put = (name: string, value: string) => {
    seen.set(name, value);
    all.push([name, value]);
  };
  let i = 0;
  for (; i < args.length; i++) {
    const word = args[i] as Word;
    if (word.dynamic !== undefined) return { seen, all, rest: i, dynamic: word.text };
    const arg = word.text;
    if (arg === "--") return { seen, all, rest: i + 1 };
    if (arg.startsWith("--")) {
      const [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (value === undefined && spec.long?.includes(name)) put(name, args[++i]?.text ?? "");
      else put(name, value ?? "");
    } else if ((arg.startsWith("-") || (spec.plus && arg.startsWith("+"))) && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        if (spec.short?.includes(letter)) {
          put(letter, j + 1 < arg.length ? arg.slice(j + 1) : (args[++i]?.text ?? ""));
          break;
        }
        put(letter, "");
      }
    } else break;
  }
  return { seen, all, rest: i };
}
