import { readOptions } from "./options.ts";
import type { Word } from "./script.ts";

/**
 * Environment variables that make a program run code, or read configuration, of someone else's
 * choosing: the dynamic loader's, a shell's startup files, git's and other programs' helpers,
 * interpreters' module paths. Two lists, because the caller's own environment legitimately holds
 * some of them (HOME, EDITOR, a CUDA image's LD_LIBRARY_PATH) while a command that sets one itself
 * (`VAR=x cmd`, `env VAR=x`, `export VAR=x`, `read VAR`) has no reason the policy can check.
 */

/** Inherited from the caller, these already change what every program or shell runs. */
const INHERITED: readonly RegExp[] = [
  /^LD_(PRELOAD|AUDIT)$/,
  /^(BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND)$/,
  /^BASH_FUNC_.+/,
];

/** Set by the command, each of these runs code or reads a file the agent may have written. */
const SET: readonly RegExp[] = [
  ...INHERITED,
  // The dynamic loader (every LD_ name: library paths, audit modules, preloads) and its kin.
  /^(LD_.+|DYLD_.+|GCONV_PATH|GLIBC_TUNABLES|OPENSSL_CONF|OPENSSL_ENGINES)$/,
  // Shells: startup files, functions, loadable builtins, what `flock -c`, `script`, `su -m` run.
  /^(ZDOTDIR|FPATH|PS0|PS1|BASH_LOADABLES_PATH|SHELL)$/,
  // Configuration files in the home directory (~/.gitconfig, ~/.bashrc, ~/.config/git/config).
  /^(HOME|XDG_CONFIG_HOME|XDG_CONFIG_DIRS)$/,
  // git: its config and helpers. Only names, dates and prompts are harmless.
  /^GIT_(?!(AUTHOR|COMMITTER)_(NAME|EMAIL|DATE)$|TERMINAL_PROMPT$|OPTIONAL_LOCKS$).+/,
  // Programs that others start: pagers, editors, password prompts, browsers, tar's options.
  /^(PAGER|MANPAGER|SYSTEMD_PAGER|EDITOR|VISUAL|SUDO_EDITOR|LESSOPEN|LESSCLOSE|BROWSER)$/,
  /^(SSH_ASKPASS|SUDO_ASKPASS|TAR_OPTIONS|PARALLEL|PARALLEL_SHELL|VALGRIND_OPTS)$/,
  // Interpreters' modules and start-up code.
  /^(PYTHONPATH|PYTHONHOME|PYTHONSTARTUP|PYTHONWARNINGS|PYTHONINSPECT|PYTHONBREAKPOINT)$/,
  /^(NODE_OPTIONS|NODE_PATH|PERL5LIB|PERLLIB|PERL5OPT|PERL5DB|RUBYOPT|RUBYLIB)$/,
  /^(JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CLASSPATH|LUA_INIT|LUA_PATH|LUA_CPATH)$/,
  /^(npm_config_.+|NPM_CONFIG_.+)$/,
];

/** Why setting (or inheriting) this variable lets a program run code of its own, or undefined. */
export function codeVariable(name: string, inherited: boolean): string | undefined {
  const list = inherited ? INHERITED : SET;
  if (!list.some((re) => re.test(name))) return undefined;
  return `the variable ${name}, which runs code of its own`;
}

/** `NAME[...]` and `NAME` alike: an array element 0 is the variable itself. */
export const variableName = (text: string) => text.replace(/\[.*$/s, "");

const ASSIGNS_IN_ARITHMETIC =
  /(?<![$\w])([A-Za-z_]\w*)\s*(?:\[[^\]]{0,256}\]\s*)?(?:[-+*/%&|^]|<<|>>)?=(?![=~])/g;
const STEPS_IN_ARITHMETIC = /(?:\+\+|--)\s*([A-Za-z_]\w*)|(?<![$\w])([A-Za-z_]\w*)\s*(?:\+\+|--)/g;

/** Variables an arithmetic text assigns: `PATH=1`, `PATH+=1`, `PATH++`, `--PATH` (in `let`, `((...))`, `$((...))`, an index). */
export function assignedInArithmetic(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(ASSIGNS_IN_ARITHMETIC)) names.push(m[1] as string);
  for (const m of text.matchAll(STEPS_IN_ARITHMETIC)) names.push((m[1] ?? m[2]) as string);
  return names;
}

/** What a builtin assigns by name, or the word that names one only at run time. */
export interface Assigned {
  names: string[];
  dynamic?: string;
}

/**
 * The word given to a short option among the leading options (`-v NAME`, `-vNAME`, `-rv NAME`),
 * as it stands (a dynamic word stays dynamic); `values` are the letters that take a value.
 */
function optionValue(args: Word[], letter: string, values: string): Word | undefined {
  for (let i = 0; i < args.length; i++) {
    const text = args[i]?.text ?? "";
    if (args[i]?.dynamic !== undefined || text === "--" || !/^-./.test(text)) return undefined;
    for (let j = 1; j < text.length; j++) {
      if (!values.includes(text[j] as string)) continue;
      if (text[j] !== letter) break;
      return j + 1 < text.length ? { text: text.slice(j + 1) } : args[i + 1];
    }
  }
  return undefined;
}

const operands = (args: Word[], values: string) => args.slice(readOptions(args, { short: values }).rest);
const given = (word: Word | undefined) => (word ? [word] : []);

/** Builtins that assign variables named by their words: which words. */
const BY_BUILTIN: Record<string, (args: Word[]) => Word[]> = {
  read: (args) => [...given(optionValue(args, "a", "adinNptu")), ...operands(args, "adinNptu")],
  printf: (args) => given(optionValue(args, "v", "v")),
  mapfile: (args) => operands(args, "dnOsuCc").slice(0, 1),
  getopts: (args) => args.slice(1, 2),
  unset: (args) => operands(args, ""),
  wait: (args) => given(optionValue(args, "p", "p")),
};
BY_BUILTIN.readarray = BY_BUILTIN.mapfile as (args: Word[]) => Word[];

/** The variables a builtin command assigns (`read PATH`, `printf -v PATH`, `let PATH=1`, `unset PATH`). */
export function assignedByBuiltin(name: string, args: Word[]): Assigned {
  if (name === "let") {
    const dynamic = args.find((w) => w.dynamic !== undefined);
    if (dynamic) return { names: [], dynamic: dynamic.text };
    return { names: args.flatMap((w) => assignedInArithmetic(w.text)) };
  }
  const pick = Object.hasOwn(BY_BUILTIN, name) ? BY_BUILTIN[name] : undefined;
  if (!pick) return { names: [] };
  const words = pick(args);
  const dynamic = words.find((w) => w.dynamic !== undefined);
  if (dynamic) return { names: [], dynamic: dynamic.text };
  return { names: words.map((w) => variableName(w.text)) };
}
