import { type OptionSpec, readOptions } from "./options.ts";
import { lineOf, staticWord, type Word } from "./script.ts";

/** What a wrapper runs in turn. */
export type Inner =
  /** A program with these words (`alias`: only counted as that program by deny rules, e.g. `find -delete` as `rm`). */
  | { argv: Word[]; alias?: boolean }
  /** A shell script (`sh -c`, `su -c`, `flock -c`, `watch`). */
  | { script: Word }
  /** Something the policy cannot know before the run. */
  | { unresolved: string };

export interface Wrapper {
  /**
   * Whether the wrapper changes who or where the program runs as (`sudo`, `chroot`) or can tamper
   * with it (`strace`): under an allow-list it needs a rule of its own, besides its program's.
   */
  privileged?: boolean;
  unwrap(args: Word[]): Inner[];
}

/** Words for what stdin adds (xargs) or what find fills in: matched as text by rules. */
const FROM_INPUT = staticWord("...");

/** A wrapper that reads options, then perhaps operands it consumes, then runs the rest. */
function execs(spec: OptionSpec, operands = 0, privileged = false): Wrapper {
  return {
    privileged,
    unwrap(args) {
      const read = readOptions(args, spec);
      if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
      const argv = args.slice(read.rest + operands);
      return argv.length > 0 ? [{ argv }] : [];
    },
  };
}

const SHELL_RE = /^(sh|bash|rbash|dash|ash|zsh\d*|ksh\d*|mksh|pdksh|oksh|yash|posh|busybox-sh)$/;

/** A shell: with -c it runs its script; otherwise it is a program reading a script file or stdin. */
export function isShell(name: string): boolean {
  return SHELL_RE.test(name);
}

const shell: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, { short: "oO", long: ["init-file", "rcfile"], plus: true });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    if (!read.seen.has("c")) return [];
    const script = args[read.rest];
    return script ? [{ script }] : [{ unresolved: "a shell -c without a script" }];
  },
};

const sudo: Wrapper = {
  privileged: true,
  unwrap(args) {
    const read = readOptions(args, {
      short: "ugCDpRrtTU",
      long: [
        "user",
        "group",
        "close-from",
        "chdir",
        "host",
        "prompt",
        "chroot",
        "role",
        "type",
        "command-timeout",
        "other-user",
      ],
    });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    const argv = args.slice(read.rest);
    if (read.seen.has("e") || read.seen.has("edit")) return [{ argv: [staticWord("sudoedit"), ...argv] }];
    const viaShell = ["s", "shell", "i", "login"].some((o) => read.seen.has(o));
    if (viaShell) return argv.length > 0 ? [{ script: staticWord(lineOf(argv)) }] : [];
    return argv.length > 0 ? [{ argv }] : [];
  },
};

/**
 * The value of an option wherever it stands: su and script take options after their operands too
 * (`su root -c CMD`, `script /dev/null -c CMD`).
 */
function optionAnywhere(args: readonly Word[], short: string[], long: string[]): Word | undefined {
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

const su: Wrapper = {
  privileged: true,
  unwrap(args) {
    const command = optionAnywhere(args, ["-c", "-C"], ["command", "session-command"]);
    return command === undefined ? [] : [{ script: command }];
  },
};

const xargs: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, {
      short: "adEILnPs",
      long: ["arg-file", "delimiter", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var"],
    });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    const argv = args.slice(read.rest);
    return [{ argv: [...(argv.length > 0 ? argv : [staticWord("echo")]), FROM_INPUT] }];
  },
};

const timeoutCmd: Wrapper = execs({ short: "sk", long: ["signal", "kill-after"] }, 1);

const chroot: Wrapper = {
  privileged: true,
  unwrap(args) {
    const read = readOptions(args, { long: ["userspec", "groups"] });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    const root = args[read.rest];
    const argv = args.slice(read.rest + 1);
    const inner: Inner[] = [{ argv: argv.length > 0 ? argv : [staticWord("sh"), staticWord("-i")] }];
    // Inside another root, a name resolves to that root's files: only its name can be checked.
    if (root?.text !== "/") inner.push({ unresolved: `chroot into ${root?.text ?? "?"}` });
    return inner;
  },
};

const flock: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, { short: "wE", long: ["timeout", "conflict-exit-code"] });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    const after = args.slice(read.rest + 1);
    if (after[0]?.text === "-c" || after[0]?.text === "--command")
      return after[1] ? [{ script: after[1] }] : [];
    return after.length > 0 ? [{ argv: after }] : [];
  },
};

const watch: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, { short: "nqs", long: ["interval", "equexit", "shotsdir"] });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    const argv = args.slice(read.rest);
    if (argv.length === 0) return [];
    if (read.seen.has("x") || read.seen.has("exec")) return [{ argv }];
    return [{ script: staticWord(lineOf(argv)) }];
  },
};

const env: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, { short: "uCSa", long: ["unset", "chdir", "split-string", "argv0"] });
    if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
    let i = read.rest;
    while (i < args.length && /^[^=\s]+=/.test(args[i]?.text ?? "") && !args[i]?.dynamic) i++;
    const argv = args.slice(i);
    const split = read.seen.get("S") ?? read.seen.get("split-string");
    if (split !== undefined) return [{ script: staticWord([split, ...argv.map((w) => w.text)].join(" ")) }];
    return argv.length > 0 ? [{ argv }] : [];
  },
};

const find: Wrapper = {
  unwrap(args) {
    const inner: Inner[] = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]?.text;
      if (arg === "-delete") inner.push({ argv: [staticWord("rm"), FROM_INPUT], alias: true });
      if (arg !== "-exec" && arg !== "-execdir" && arg !== "-ok" && arg !== "-okdir") continue;
      const end = args.findIndex((w, j) => j > i && (w.text === ";" || w.text === "+"));
      const argv = args.slice(i + 1, end === -1 ? undefined : end);
      if (argv.length > 0) inner.push({ argv });
      if (end === -1) break;
      i = end;
    }
    return inner;
  },
};

/** The wrappers known by name: each runs another program, and that one is checked too. */
export const WRAPPERS: Record<string, Wrapper> = {
  env,
  nice: execs({ short: "n", long: ["adjustment"] }),
  nohup: execs({}),
  timeout: timeoutCmd,
  stdbuf: execs({ short: "ioe", long: ["input", "output", "error"] }),
  ionice: execs({ short: "cnpPu", long: ["class", "classdata", "pid", "pgid", "uid"] }),
  setsid: execs({}),
  time: execs({ short: "fo", long: ["format", "output"] }),
  chrt: execs({}, 1),
  taskset: execs({}, 1),
  xargs,
  flock,
  watch,
  find,
  unlink: { unwrap: (args) => [{ argv: [staticWord("rm"), ...args], alias: true }] },
  sudo,
  doas: execs({ short: "uC" }, 0, true),
  su,
  runuser: su,
  chroot,
  strace: execs({ short: "abeEIoOpPsSuUX", long: ["output", "attach", "user", "env", "expr"] }, 0, true),
  ltrace: execs({ short: "aAeEFlnopsuwxX", long: ["output", "library"] }, 0, true),
  unshare: execs(
    {
      short: "RwSG",
      long: ["root", "wd", "setuid", "setgid", "propagation", "setgroups", "map-user", "map-group"],
    },
    0,
    true,
  ),
  // clawguard itself: its `exec` runs the command under whatever config it is given.
  clawguard: {
    unwrap(args) {
      if (args[0]?.text !== "exec") return [];
      const read = readOptions(args.slice(1), { long: ["session", "max-bytes", "timeout-ms", "config"] });
      if (read.dynamic) return [{ unresolved: `the option ${read.dynamic}` }];
      const argv = args.slice(1 + read.rest);
      return argv.length > 0 ? [{ argv }] : [];
    },
  },
  script: {
    unwrap(args) {
      const command = optionAnywhere(args, ["-c"], ["command"]);
      return command === undefined ? [] : [{ script: command }];
    },
  },
};

export function wrapperFor(name: string): Wrapper | undefined {
  if (isShell(name)) return shell;
  return Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name] : undefined;
}
