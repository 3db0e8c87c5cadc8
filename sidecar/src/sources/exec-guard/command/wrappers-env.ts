import { readOptions } from "./options.ts";
import { lineOf, staticWord, type Word } from "./script.ts";
import { flagAnywhere, type Inner, optionAnywhere, type Wrapper } from "./wrapper-kit.ts";

/**
 * Wrappers that change the environment or the user a program runs with: shells, env, sudo, su.
 * Each says what it sets, and what it reads that the policy does not (a login shell's profile).
 */

const ASSIGNMENT = /^([^=\s]+)=/;

/** The `VAR=value` words at the start of args (env and sudo take them before the command). */
function assignments(args: Word[], from: number): { names: string[]; next: number } {
  const names: string[] = [];
  let i = from;
  for (; i < args.length && !args[i]?.dynamic; i++) {
    const name = ASSIGNMENT.exec(args[i]?.text ?? "")?.[1];
    if (name === undefined) break;
    names.push(name);
  }
  return { names, next: i };
}

/**
 * A shell: with -c it runs its script. As a login or interactive shell, or given a startup file,
 * it first runs files the agent can write (~/.profile, ~/.bashrc, --rcfile F); zsh reads
 * ~/.zshenv even for -c unless -f.
 */
export const shell: Wrapper = {
  unwrap(args, called) {
    const read = readOptions(args, { short: "oO", long: ["init-file", "rcfile"], plus: true });
    // `bash "$f"` runs a script file, which the policy does not read either when it is named.
    if (read.dynamic) return [{ unresolved: `the word ${read.dynamic}, an option or a script file` }];
    const inner: Inner[] = [];
    const startup = ["l", "i", "login", "rcfile", "init-file"].find((o) => read.seen.has(o));
    const option = startup && (startup.length === 1 ? `-${startup}` : `--${startup}`);
    if (option) inner.push({ unresolved: `${called} ${option}, which first runs startup files` });
    else if (/^zsh/.test(called) && !read.seen.has("f") && !read.seen.has("no-rcs"))
      inner.push({ unresolved: `${called} without -f, which first runs ~/.zshenv` });
    if (!read.seen.has("c")) return inner;
    const script = args[read.rest];
    return [...inner, script ? { script } : { unresolved: "a shell -c without a script" }];
  },
};

/** `env -S STRING`: split as env splits it, when it has no escapes or `${VAR}` (else unknown). */
function splitString(text: string): Word[] | undefined {
  if (/[\\$#]/.test(text)) return undefined;
  const words = text.match(/(?:'[^']*'|"[^"]*"|[^\s'"])+/g) ?? [];
  return words.map((w) => staticWord(w.replace(/'([^']*)'|"([^"]*)"/g, (_, a, b) => a ?? b)));
}

export const env: Wrapper = {
  unwrap(args, called) {
    const read = readOptions(args, {
      short: "uCSaPLU",
      long: ["unset", "chdir", "split-string", "argv0"],
    });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const split = read.seen.get("S") ?? read.seen.get("split-string");
    if (split !== undefined) {
      const words = splitString(split);
      if (!words) return [{ hidden: `env -S ${JSON.stringify(split)}, which env expands itself` }];
      // The split words stand where -S stood: options, assignments and the command alike.
      const at = read.all.findIndex(([name]) => name === "S" || name === "split-string");
      const before = read.all
        .slice(0, at)
        .flatMap(([n, v]) => [
          staticWord(n.length === 1 ? `-${n}` : `--${n}`),
          ...(v ? [staticWord(v)] : []),
        ]);
      return env.unwrap([...before, ...words, ...args.slice(read.rest)], called);
    }
    const inner: Inner[] = [];
    let start = read.rest;
    const cleared = read.seen.has("i") || read.seen.has("ignore-environment") || args[start]?.text === "-";
    if (args[start]?.text === "-") start++;
    const unset = read.all.filter(([n]) => n === "u" || n === "unset").map(([, v]) => v);
    if (cleared || unset.includes("PATH") || read.seen.has("P"))
      inner.push({
        changes: "PATH",
        how: cleared ? "env -i" : read.seen.has("P") ? "env -P" : "env -u PATH",
      });
    if (read.seen.has("C") || read.seen.has("chdir")) inner.push({ changes: "directory", how: "env -C" });
    const set = assignments(args, start);
    if (set.names.length > 0) inner.push({ sets: set.names });
    const argv = args.slice(set.next);
    // `env -a NAME PROG`: PROG runs called NAME (a multi-call binary runs that applet).
    const argv0 = read.seen.get("a") ?? read.seen.get("argv0");
    if (argv0 !== undefined && argv.length > 0) {
      inner.push({
        unresolved: `${argv0}: a program started under another name, which may change what it does`,
      });
      inner.push({ argv: [staticWord(argv0.replace(/^-/, "")), ...argv.slice(1)], alias: true });
    }
    return argv.length > 0 ? [...inner, { argv }] : inner;
  },
};

export const sudo: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const read = readOptions(args, {
      short: "ugCDpRrtTU",
      long: ["user", "group", "close-from", "chdir", "host", "prompt", "chroot", "role", "type"].concat([
        "command-timeout",
        "other-user",
      ]),
    });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const inner: Inner[] = [];
    if (read.seen.has("D") || read.seen.has("chdir")) inner.push({ changes: "directory", how: "sudo -D" });
    if (read.seen.has("R") || read.seen.has("chroot")) inner.push({ unresolved: "sudo --chroot" });
    const set = assignments(args, read.rest);
    if (set.names.length > 0) inner.push({ sets: set.names });
    const argv = args.slice(set.next);
    if (read.seen.has("e") || read.seen.has("edit"))
      return [...inner, { argv: [staticWord("sudoedit"), ...argv] }];
    if (read.seen.has("i") || read.seen.has("login"))
      inner.push({ unresolved: "sudo -i, which first runs the user's login files" });
    const viaShell = ["s", "shell", "i", "login"].some((o) => read.seen.has(o));
    if (viaShell) return argv.length > 0 ? [...inner, { script: staticWord(lineOf(argv)) }] : inner;
    return argv.length > 0 ? [...inner, { argv }] : inner;
  },
};

/**
 * su and runuser: `-c CMD` is a script for the user's shell, `-s SHELL` is a program that runs,
 * a login (`-`, `-l`) first runs the user's profile; `runuser -u USER CMD...` runs CMD directly.
 */
export const su: Wrapper = {
  ownRule: true,
  unwrap(args, called) {
    const inner: Inner[] = [];
    if (called === "runuser" && flagAnywhere(args, "u", ["user"])) {
      const read = readOptions(args, {
        short: "ugGswP",
        long: ["user", "group", "supp-group", "shell", "whitelist-environment"],
      });
      if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
      const argv = args.slice(read.rest);
      return argv.length > 0 ? [{ argv }] : [];
    }
    if (args.some((w) => w.text === "-") || flagAnywhere(args, "l", ["login"]))
      inner.push({ unresolved: `${called} -l, which first runs the user's login files` });
    const shellWord = optionAnywhere(args, ["-s"], ["shell"]);
    const command = optionAnywhere(args, ["-c", "-C"], ["command", "session-command"]);
    // The shell given is the program that runs, with -c and the command when there is one.
    if (shellWord) inner.push({ argv: command ? [shellWord, staticWord("-c"), command] : [shellWord] });
    if (command !== undefined) inner.push({ script: command });
    return inner;
  },
};
