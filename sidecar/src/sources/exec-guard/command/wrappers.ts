import { readOptions } from "./options.ts";
import { lineOf, staticWord } from "./script.ts";
import { execs, firstOperand, type Inner, optionAnywhere, type Wrapper } from "./wrapper-kit.ts";
import { env, shell, su, sudo } from "./wrappers-env.ts";
import { bwrap, chroot, dynamicLoader, nsenter } from "./wrappers-sandbox.ts";
import { find, gdb, git, parallel, perf, rsync, runsOption, tar, xargs } from "./wrappers-tools.ts";

export type { Inner, Wrapper } from "./wrapper-kit.ts";

const SHELL_RE = /^(sh|bash|rbash|dash|ash|zsh\d*|ksh\d*|mksh|pdksh|oksh|yash|posh|busybox-sh)$/;
/** A shell: with -c it runs its script; otherwise it is a program reading a script file or stdin. */
export function isShell(name: string): boolean {
  return SHELL_RE.test(name);
}

const flock: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, { short: "wE", long: ["timeout", "conflict-exit-code"] });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const after = args.slice(read.rest + 1);
    if (after[0]?.text === "-c" || after[0]?.text === "--command")
      return after[1] ? [{ script: after[1] }] : [];
    return after.length > 0 ? [{ argv: after }] : [];
  },
};

const watch: Wrapper = {
  unwrap(args) {
    const read = readOptions(args, { short: "nqs", long: ["interval", "equexit", "shotsdir"] });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const argv = args.slice(read.rest);
    if (argv.length === 0) return [];
    if (read.seen.has("x") || read.seen.has("exec")) return [{ argv }];
    return [{ script: staticWord(lineOf(argv)) }];
  },
};

/** `setarch ARCH [-R...] CMD`; called `linux32`, `x86_64`, ... the architecture is in the name. */
const setarch: Wrapper = {
  unwrap(args, called) {
    const operands = called === "setarch" ? 1 : 0;
    const read = readOptions(args.slice(operands), {});
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const argv = args.slice(operands + read.rest);
    return argv.length > 0 ? [{ argv }] : [];
  },
};

/** `sg GROUP [-c] CMD` runs CMD through /bin/sh; called newgrp it starts a shell. */
const newgrp: Wrapper = {
  ownRule: true,
  unwrap(args, called) {
    if (called !== "sg") return [];
    const rest = args.slice(args[0]?.text === "-" ? 2 : 1);
    const command = rest[0]?.text === "-c" ? rest.slice(1) : rest;
    if (command.length === 0) return [];
    const dynamic = command.find((w) => w.dynamic !== undefined);
    return [{ script: dynamic ?? staticWord(lineOf(command)) }];
  },
};

const script: Wrapper = {
  unwrap(args) {
    const command = optionAnywhere(args, ["-c"], ["command"]);
    return command === undefined ? [] : [{ script: command }];
  },
};

/** clawguard itself: its `exec` runs the command under whatever config it is given. */
const clawguard: Wrapper = {
  unwrap(args) {
    if (args[0]?.text !== "exec") return [];
    const read = readOptions(args.slice(1), { long: ["session", "max-bytes", "timeout-ms", "config"] });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const argv = args.slice(1 + read.rest);
    return argv.length > 0 ? [{ argv }] : [];
  },
};

/** ssh: the command runs on the host named (checked by name); `-o ProxyCommand=` runs here. */
const ssh: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const read = readOptions(args, { short: "BbcDEeFIiJLlmOoPpQRSWw" });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const inner: Inner[] = [];
    for (const [name, value] of read.all) {
      const local = /^(ProxyCommand|LocalCommand|KnownHostsCommand)\s*=?\s*(.*)$/is.exec(value);
      if (name === "o" && local) inner.push({ script: staticWord(local[2] as string) });
      if (name === "F") inner.push({ unresolved: `ssh -F ${value}, a configuration that can run commands` });
    }
    const command = args.slice(read.rest + 1);
    if (command.length === 0) return inner;
    const dynamic = command.find((w) => w.dynamic !== undefined);
    return [...inner, { script: dynamic ?? staticWord(lineOf(command)) }];
  },
};

/** tmux and screen run what they are given in a server of their own, later. */
const TMUX_RUNS =
  /^(new|new-session|new-window|neww|split-window|splitw|respawn-pane|respawnp|respawn-window|respawnw|run-shell|run|send-keys|send|if-shell|if|display-popup|popup|pipe-pane|pipep|source-file|source)$/;
const tmux: Wrapper = {
  unwrap: (args) =>
    args.some((w) => w.dynamic !== undefined || TMUX_RUNS.test(w.text))
      ? [{ hidden: "tmux, whose server runs the commands it is sent" }]
      : [],
};

/** Programs that take commands only from their input or a file the policy does not read. */
const reads = (what: string): Wrapper => ({ ownRule: true, unwrap: () => [{ hidden: what }] });

/**
 * The wrappers known by the name of the file that runs (a link `./env -> python3` is python3):
 * each runs another program, and that one is checked too. Options that take a value are listed,
 * so that the program is found after them.
 */
export const WRAPPERS: Record<string, Wrapper> = {
  env,
  nice: execs({ short: "n", long: ["adjustment"] }),
  nohup: execs({}),
  timeout: execs({ short: "sk", long: ["signal", "kill-after"] }, 1),
  stdbuf: execs({ short: "ioe", long: ["input", "output", "error"] }),
  ionice: execs({ short: "cnpPu", long: ["class", "classdata", "pid", "pgid", "uid"] }),
  setsid: execs({}),
  time: execs({ short: "fo", long: ["format", "output"] }),
  chrt: execs({ short: "TPD", long: ["sched-runtime", "sched-period", "sched-deadline"] }, 1),
  taskset: execs({}, 1),
  prlimit: execs({ short: "po", long: ["pid", "output"] }),
  setarch,
  // setarch's own links, for where they are not links (each is setarch with the architecture in its name).
  ...Object.fromEntries(["linux32", "linux64", "i386", "x86_64", "uname26"].map((n) => [n, setarch])),
  catchsegv: execs({}),
  eatmydata: execs({}),
  unbuffer: execs({}),
  faketime: execs({}, 1),
  numactl: execs({
    short: "CNmpiPwb",
    long: ["cpunodebind", "physcpubind", "membind", "preferred", "interleave"],
  }),
  "dbus-launch": execs({ long: ["config-file", "autolaunch"] }),
  "xvfb-run": execs({ short: "nsefpwl", long: ["server-num", "server-args", "error-file", "auth-file"] }),
  lckdo: execs({ short: "W" }, 1),
  "with-lock-ex": execs({}, 1),
  xargs,
  parallel,
  sem: parallel,
  flock,
  watch,
  script,
  find,
  unlink: { unwrap: (args) => [{ argv: [staticWord("rm"), ...args], alias: true }] },
  sudo,
  doas: execs({ short: "uC" }, 0, true),
  pkexec: execs({ long: ["user"] }, 0, true),
  su,
  runuser: su,
  newgrp,
  sg: newgrp,
  setpriv: execs(
    {
      long: [
        "reuid",
        "regid",
        "groups",
        "inh-caps",
        "ambient-caps",
        "bounding-set",
        "securebits",
        "pdeathsig",
      ],
    },
    0,
    true,
  ),
  setuidgid: execs({}, 1, true),
  "s6-setuidgid": execs({}, 1, true),
  chpst: execs({ short: "uUbe/nlL" }, 0, true),
  cgexec: execs({ short: "g" }, 0, true),
  "systemd-run": execs(
    {
      short: "upEMHd",
      long: ["unit", "property", "setenv", "machine", "host", "uid", "gid", "nice", "slice"],
    },
    0,
    true,
  ),
  chroot,
  nsenter,
  unshare: execs(
    {
      short: "RwSG",
      long: ["root", "wd", "setuid", "setgid", "propagation", "setgroups", "map-user", "map-group"],
    },
    0,
    true,
  ),
  strace: execs({ short: "abeEIoOpPsSuUX", long: ["output", "attach", "user", "env", "expr"] }, 0, true),
  ltrace: execs({ short: "aAeEFlnopsuwxX", long: ["output", "library"] }, 0, true),
  valgrind: firstOperand(true),
  firejail: firstOperand(true),
  fakeroot: execs({ short: "lsi", long: ["lib", "faked"] }, 0, true),
  gdb,
  perf,
  git,
  tar,
  rsync,
  rg: runsOption(["--pre"], "argv"),
  sort: runsOption(["--compress-program"], "argv"),
  split: runsOption(["--filter"], "script"),
  sdiff: runsOption(["--diff-program"], "argv"),
  diff3: runsOption(["--diff-program"], "argv"),
  zip: runsOption(["-TT", "--unzip-command"], "script"),
  wget: runsOption(["--use-askpass"], "argv"),
  man: runsOption(["-P", "--pager", "-H", "--html"], "script"),
  clawguard,
  ssh,
  tmux,
  screen: reads("screen, which runs a command or a shell in a session of its own"),
  capsh: {
    ownRule: true,
    // `capsh [OPTIONS] -- ARGS` runs bash with ARGS (`-- -c CMD`).
    unwrap(args) {
      const at = args.findIndex((w) => w.text === "--");
      return at === -1 ? [] : [{ argv: [staticWord("bash"), ...args.slice(at + 1)] }];
    },
  },
  torsocks: execs({ short: "uapP", long: ["user", "pass", "address", "port"] }),
  proxychains: execs({ short: "f" }),
  proxychains4: execs({ short: "f" }),
  daemonize: execs({ short: "acelEopu" }, 0, true),
  bwrap,
  rlwrap: execs({ short: "bCDefFgHlMpPqsStwXz" }),
  proot: execs({ short: "rbmqwk" }, 0, true),
  expect: reads("expect, which runs Tcl"),
  at: reads("at, which runs the commands of its input later"),
  batch: reads("batch, which runs the commands of its input later"),
};

/** The dynamic loader, by its file names: `ld.so`, `ld-linux-x86-64.so.2`, `ld-musl-x86_64.so.1`. */
const LOADER = /^ld(-linux[\w.-]*|64)?\.so(\.\d+)*$|^ld-musl-[\w]+\.so\.\d+$/;

export function wrapperFor(name: string): Wrapper | undefined {
  if (isShell(name)) return shell;
  if (LOADER.test(name)) return dynamicLoader;
  return Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name] : undefined;
}
