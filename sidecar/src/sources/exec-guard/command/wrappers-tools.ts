import { readOptions } from "./options.ts";
import { lineOf, staticWord, type Word } from "./script.ts";
import { FROM_INPUT, type Inner, type Wrapper } from "./wrapper-kit.ts";

/**
 * Programs that do work of their own and also run commands they are given: find, xargs,
 * parallel, gdb, perf, git. Each needs an allow rule of its own where it does more than start
 * another program.
 */

export const find: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const inner: Inner[] = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]?.text;
      if (arg === "-delete") inner.push({ argv: [staticWord("rm"), FROM_INPUT], alias: true });
      if (arg !== "-exec" && arg !== "-execdir" && arg !== "-ok" && arg !== "-okdir") continue;
      // -execdir runs its command in each file's directory: `./x` there is any file named x.
      if (arg.endsWith("dir")) inner.push({ changes: "directory", how: `find ${arg}` });
      const end = args.findIndex((w, j) => j > i && (w.text === ";" || w.text === "+"));
      const argv = args.slice(i + 1, end === -1 ? undefined : end);
      if (argv.length > 0) inner.push({ argv });
      if (end === -1) break;
      i = end;
    }
    return inner;
  },
};

export const xargs: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, {
      short: "adEILnPs",
      long: ["arg-file", "delimiter", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var"],
    });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const argv = args.slice(read.rest);
    return [{ argv: [...(argv.length > 0 ? argv : [staticWord("echo")]), FROM_INPUT] }];
  },
};

const INPUT_SOURCES = new Set([":::", "::::", ":::+", "::::+"]);

/**
 * GNU parallel (and `sem`): its command words, up to the first `:::`, run through a shell; with
 * none, each line of input is a command the policy cannot see.
 */
export const parallel: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, {
      short: "jSaCdEILlnNPs",
      long: ["jobs", "sshlogin", "arg-file", "colsep", "delimiter", "eof", "max-args", "max-lines"]
        .concat(["results", "res", "joblog", "tmpdir", "workdir", "wd", "env", "retries", "timeout"])
        .concat(["delay", "halt", "memfree", "load", "basefile", "return", "transferfile", "sshloginfile"]),
    });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const end = args.findIndex((w, i) => i >= read.rest && INPUT_SOURCES.has(w.text));
    const command = args.slice(read.rest, end === -1 ? undefined : end);
    if (command.length === 0) return [{ hidden: "parallel, which reads its commands from its input" }];
    const inner: Inner[] = [];
    if (read.seen.has("wd") || read.seen.has("workdir"))
      inner.push({ changes: "directory", how: "parallel --wd" });
    const dynamic = command.find((w) => w.dynamic !== undefined);
    // Without {} in it, parallel appends each input to the command.
    inner.push(dynamic ? { script: dynamic } : { script: staticWord(lineOf([...command, FROM_INPUT])) });
    return inner;
  },
};

/** gdb commands that only run the program it was given or look at it. */
const GDB_PLAIN =
  /^\s*(r|run|start|starti|c|continue|bt|backtrace|where|info\b.*|q|quit|kill|thread apply all (bt|backtrace)( full)?|set (pagination|confirm|print|logging|width|height|style)\b.*)\s*$/;

/** A gdb command: `shell CMD` and `!CMD` are scripts; anything else but the plain ones runs code. */
function gdbCommand(command: Word): Inner[] {
  if (command.dynamic !== undefined) return [{ hidden: `the gdb command ${command.text}` }];
  const shell = /^\s*(?:shell\s|!)\s*(.*)$/s.exec(command.text);
  if (shell) return [{ script: staticWord(shell[1] as string) }];
  if (GDB_PLAIN.test(command.text)) return [];
  return [{ hidden: `the gdb command ${JSON.stringify(command.text.slice(0, 60))}` }];
}

const GDB_VALUES = new Set([
  "-x",
  "-ix",
  "-ex",
  "-iex",
  "-p",
  "-pid",
  "-d",
  "-s",
  "-e",
  "-se",
  "-c",
  "-b",
  "-cd",
  "-D",
  "-tty",
  "-l",
  "-i",
  "-data-directory",
  "-directory",
  "-command",
  "-init-command",
  "-eval-command",
  "-init-eval-command",
  "-symbols",
  "-exec",
  "-core",
  "-baud",
  "-interpreter",
  "-ex-file",
]);

/** gdb: `--args PROG ARGS` and a program operand run; `-ex`/`-iex` commands are read; `-x FILE` cannot be. */
export const gdb: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const inner: Inner[] = [];
    for (let i = 0; i < args.length; i++) {
      const word = args[i] as Word;
      if (word.dynamic !== undefined) return [...inner, { hidden: `the word ${word.text}` }];
      const [flag = "", attached] = word.text.replace(/^--/, "-").split(/=(.*)/s, 2);
      if (flag === "-args") return args.length > i + 1 ? [...inner, { argv: args.slice(i + 1) }] : inner;
      if (!flag.startsWith("-")) {
        inner.push({ argv: [word] }); // the program gdb loads, and `run` runs
        continue;
      }
      if (!GDB_VALUES.has(flag)) continue;
      const value = attached !== undefined ? staticWord(attached) : args[++i];
      if (!value) break;
      if (["-ex", "-iex", "-eval-command", "-init-eval-command"].includes(flag))
        inner.push(...gdbCommand(value));
      else if (["-x", "-ix", "-command", "-init-command"].includes(flag))
        inner.push({ hidden: `gdb commands in the file ${value.text}` });
      else if (flag === "-exec") inner.push({ argv: [value] });
    }
    return inner;
  },
};

/** perf subcommands that run a command, and the options that take a value before it. */
const PERF_RUNS = new Set(["record", "stat", "trace", "ftrace", "top"]);
const PERF_VALUES = {
  short: "eFcopGtuCmrDjkxIM",
  long: [
    "event",
    "freq",
    "count",
    "output",
    "pid",
    "tid",
    "uid",
    "cpu",
    "mmap-pages",
    "repeat",
    "delay",
  ].concat(["call-graph", "cgroup", "clockid", "field-separator", "interval-print", "metrics", "filter"]),
};

/** `perf record|stat|trace CMD`, also behind `mem`, `c2c`, `sched`, `lock`, `kmem`, `kvm`, `kwork`. */
export const perf: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const global = readOptions(args, { long: ["exec-path", "debugfs-dir", "buildid-dir"] });
    if (global.dynamic) return [{ hidden: `the option ${global.dynamic}` }];
    let at = global.rest;
    if (!PERF_RUNS.has(args[at]?.text ?? "") && PERF_RUNS.has(args[at + 1]?.text ?? "")) at++;
    const sub = args[at]?.text ?? "";
    if (sub === "script" && args.some((w) => /^(-s|--script)/.test(w.text)))
      return [{ hidden: "perf script -s, which runs a script" }];
    if (!PERF_RUNS.has(sub)) return [];
    const read = readOptions(args.slice(at + 1), PERF_VALUES);
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const argv = args.slice(at + 1 + read.rest);
    return argv.length > 0 ? [{ argv }] : [];
  },
};

/**
 * git configuration that names a program or a file of configuration: set on the command line
 * (`-c KEY=VALUE`, `--config-env KEY=ENV`) it makes any allowed git command run code. Keys are
 * case-insensitive in git.
 */
const GIT_CODE_KEYS =
  /^(core\.(fsmonitor|pager|editor|sshcommand|askpass|gitproxy|hookspath|alternaterefscommand|worktree)|alias\..+|pager\..+|(diff|merge|filter|difftool|mergetool|credential|gpg|browser|man|remote|url|include|includeif|sendemail|uploadpack|receive|sequence|interactive|protocol|init|submodule|safe)\..*)$/i;

/** git's own options: those that take a value, and those that run a command they name. */
const GIT_RUNS: Record<string, (args: Word[]) => Inner[]> = {
  rebase: (args) => valuesOf(args, ["-x", "--exec"]).map((script) => ({ script })),
  difftool: (args) => valuesOf(args, ["-x", "--extcmd"]).map((script) => ({ script })),
  bisect: (args) => (args[0]?.text === "run" && args.length > 1 ? [{ argv: args.slice(1) }] : []),
  submodule: (args) => {
    const at = args.findIndex((w) => w.text === "foreach");
    const rest =
      at === -1 ? [] : args.slice(at + 1).filter((w) => !/^(--recursive|-q|--quiet)$/.test(w.text));
    return rest.length > 0 ? [{ script: staticWord(lineOf(rest)) }] : [];
  },
  "filter-branch": () => [{ hidden: "git filter-branch, which runs its filters through a shell" }],
};

/** Every value of these options in args (`-x CMD`, `--exec=CMD`). */
function valuesOf(args: Word[], names: string[]): Word[] {
  const values: Word[] = [];
  for (let i = 0; i < args.length; i++) {
    const text = args[i]?.text ?? "";
    const attached = names.find((n) => n.startsWith("--") && text.startsWith(`${n}=`));
    if (attached) values.push(staticWord(text.slice(attached.length + 1)));
    else if (names.includes(text) && args[i + 1]) values.push(args[++i] as Word);
  }
  return values;
}

const PACK_PROGRAM = /^--(upload-pack|receive-pack|exec)(=|$)/;

/** git: configuration that runs code is refused; subcommands that run commands are read. */
export const git: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const read = readOptions(args, {
      short: "cC",
      long: ["config-env", "exec-path", "git-dir", "work-tree", "namespace", "super-prefix", "attr-source"],
    });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const inner: Inner[] = [];
    for (const [name, value] of read.all) {
      const key = value.split("=")[0] ?? "";
      if ((name === "c" || name === "config-env") && GIT_CODE_KEYS.test(key))
        inner.push({ unresolved: `git configuration ${key}, which can run a program` });
      if (name === "exec-path" && value !== "")
        inner.push({ unresolved: "git --exec-path, which picks git's programs" });
      if (name === "git-dir" || name === "work-tree")
        inner.push({ unresolved: `git --${name}, another repository's configuration` });
    }
    const sub = args[read.rest]?.text ?? "";
    const rest = args.slice(read.rest + 1);
    for (const w of rest)
      if (PACK_PROGRAM.test(w.text) || (sub === "clone" && w.text === "-u"))
        inner.push({ hidden: `git ${sub} ${w.text.split("=")[0]}, which runs a program it names` });
    const runs = Object.hasOwn(GIT_RUNS, sub) ? GIT_RUNS[sub] : undefined;
    return runs ? [...inner, ...runs(rest)] : inner;
  },
};

/** tar's options that name a command it runs, with its value (`--to-command=CMD`, `-I CMD`). */
const TAR_RUNS =
  /^--(to-command|use-compress-program|info-script|new-volume-script|rsh-command)(=(.*))?$|^--checkpoint-action=exec=(.*)$/s;

/** tar: the commands its options name run through a shell (deny rules see them). */
export const tar: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const inner: Inner[] = [];
    for (let i = 0; i < args.length; i++) {
      const text = args[i]?.text ?? "";
      const m = TAR_RUNS.exec(text);
      const attached = m?.[4] ?? m?.[3];
      const takesNext = (m && attached === undefined) || text === "-I" || text === "-F";
      const value = attached !== undefined ? staticWord(attached) : takesNext ? args[i + 1] : undefined;
      if (value?.dynamic !== undefined) inner.push({ hidden: `tar ${text} ${value.text}` });
      else if (value) inner.push({ script: value });
    }
    return inner;
  },
};

/** rsync: `-e`/`--rsh` is a command it runs here (the remote side is the remote's business). */
export const rsync: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const inner: Inner[] = [];
    for (let i = 0; i < args.length; i++) {
      const text = args[i]?.text ?? "";
      // `--rsh=CMD`, `--rsh CMD`, `-e CMD`, `-avze CMD`, `-eCMD`.
      const short = /^-[a-zA-Z]*?e(.*)$/s.exec(text);
      const attached = /^--rsh=(.*)$/s.exec(text)?.[1] ?? (short?.[1] || undefined);
      const next = text === "--rsh" || (short !== null && short[1] === "");
      const value = attached !== undefined ? staticWord(attached) : next ? args[i + 1] : undefined;
      if (value) inner.push({ script: value });
    }
    return inner;
  },
};

/**
 * A program that runs a command one of its options names (`rg --pre CMD`, `sort
 * --compress-program=CMD`, `split --filter=CMD`): as a program given the file, or a shell script.
 */
export function runsOption(options: string[], as: "argv" | "script"): Wrapper {
  return {
    ownRule: true,
    unwrap: (args) =>
      valuesOf(args, options).map((value): Inner => {
        if (value.dynamic !== undefined) return { hidden: `the command ${value.text}` };
        return as === "argv" ? { argv: [value, FROM_INPUT] } : { script: value };
      }),
  };
}
