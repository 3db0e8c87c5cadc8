import { type OptionSpec, readOptions } from "./options.ts";
import { staticWord, type Word } from "./script.ts";

/** What a wrapper runs in turn, or does to what it runs. */
export type Inner =
  /** A program with these words (`alias`: only counted as that program by deny rules, e.g. `find -delete` as `rm`). */
  | { argv: Word[]; alias?: boolean }
  /** A shell script (`sh -c`, `su -c`, `flock -c`, `watch`). */
  | { script: Word }
  /** Something the policy cannot know before the run; what runs is still seen. */
  | { unresolved: string }
  /**
   * A command the wrapper runs that the policy cannot read (`parallel` fed from stdin, `gdb -x
   * FILE`): refused under an allow-list, and under a deny-list with any deny rule, which it could match.
   */
  | { hidden: string }
  /** Variables it sets for what it runs (`env VAR=x`, `sudo VAR=x`). */
  | { sets: string[] }
  /** It runs the rest with another PATH or in another directory (`env -i`, `env -C DIR`, `find -execdir`). */
  | { changes: "PATH" | "directory"; how: string };

export interface Wrapper {
  /**
   * Whether the wrapper is a program in its own right, not just a way to start another: it changes
   * who or where the program runs as (`sudo`, `chroot`), can tamper with it (`strace`, `gdb`,
   * `ld.so`), or does work of its own (`find -delete`, `git`). Under an allow-list it needs a rule
   * of its own, besides its program's.
   */
  ownRule?: boolean;
  /** `called`: the basename it was called by (`linux32` is `setarch` with the architecture in its name). */
  unwrap(args: Word[], called: string): Inner[];
}

/** Words for what stdin adds (xargs) or what find fills in: matched as text by rules. */
export const FROM_INPUT = staticWord("...");

/** A wrapper that reads options, then perhaps operands it consumes, then runs the rest. */
export function execs(spec: OptionSpec, operands = 0, ownRule = false): Wrapper {
  return {
    ownRule,
    unwrap(args) {
      const read = readOptions(args, spec);
      // A word known only at run time where an operand may stand (`timeout "$T" cmd`) is taken
      // for it; where the program may stand (`nice $OPT cmd`), what runs cannot be known.
      if (read.dynamic && operands === 0) return [{ hidden: `the option ${read.dynamic}` }];
      const inner: Inner[] = read.dynamic
        ? [{ unresolved: `the word ${read.dynamic}, taken for an operand` }]
        : [];
      const argv = args.slice(read.rest + operands);
      return argv.length > 0 ? [...inner, { argv }] : inner;
    },
  };
}

/**
 * A wrapper whose options all start with `-` and take values only as `--name=value` (valgrind,
 * firejail): its program is the first word that is not an option.
 */
export function firstOperand(ownRule: boolean): Wrapper {
  return {
    ownRule,
    unwrap(args) {
      const at = args.findIndex((w) => w.dynamic !== undefined || !w.text.startsWith("-") || w.text === "--");
      if (at === -1) return [];
      if (args[at]?.dynamic !== undefined) return [{ hidden: `the word ${args[at]?.text}` }];
      const argv = args.slice(args[at]?.text === "--" ? at + 1 : at);
      return argv.length > 0 ? [{ argv }] : [];
    },
  };
}

/**
 * The value of an option wherever it stands: su and script take options after their operands too
 * (`su root -c CMD`, `script /dev/null -c CMD`).
 */
export function optionAnywhere(args: readonly Word[], short: string[], long: string[]): Word | undefined {
  for (let i = 0; i < args.length; i++) {
    const text = args[i]?.text ?? "";
    if (text === "--") return undefined;
    const attached = long.find((l) => text.startsWith(`--${l}=`));
    if (attached) return staticWord(text.slice(attached.length + 3));
    if (short.includes(text) || long.some((l) => text === `--${l}`)) return args[i + 1];
    const combined = short.find((s) => /^-[a-zA-Z]+$/.test(text) && text.endsWith(s.slice(1)));
    if (combined) return args[i + 1];
  }
  return undefined;
}

/** Whether a flag is given anywhere before `--` (`su - root`, `su root -l`). */
export function flagAnywhere(args: readonly Word[], short: string, long: string[]): boolean {
  for (const word of args) {
    const text = word.text;
    if (text === "--") return false;
    if (long.some((l) => text === `--${l}`)) return true;
    if (/^-[a-zA-Z]+$/.test(text) && text.includes(short)) return true;
  }
  return false;
}
