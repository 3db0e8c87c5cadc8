import { readOptions } from "./options.ts";
import { staticWord, type Word } from "./script.ts";
import type { Inner, Wrapper } from "./wrapper-kit.ts";

/**
 * Wrappers that run a program in another view of the system: another root (chroot, bwrap),
 * another namespace (nsenter), or through the dynamic loader with what it is told to load. A name
 * there may resolve to other files than here: what runs is still checked by name, and an
 * allow-list refuses (it cannot know which file that is).
 */

export const chroot: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const read = readOptions(args, { long: ["userspec", "groups"] });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const root = args[read.rest];
    const argv = args.slice(read.rest + 1);
    const inner: Inner[] = [{ argv: argv.length > 0 ? argv : [staticWord("sh"), staticWord("-i")] }];
    // Inside another root, a name resolves to that root's files: only its name can be checked.
    if (root?.text !== "/") inner.push({ unresolved: `chroot into ${root?.text ?? "?"}` });
    return inner;
  },
};

/** The dynamic loader run as a program: `ld.so [--preload L] PROG ARGS` runs PROG with what it loads. */
export const dynamicLoader: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const read = readOptions(args, {
      long: ["library-path", "inhibit-rpath", "audit", "preload", "argv0", "glibc-hwcaps-prepend"].concat([
        "glibc-hwcaps-mask",
      ]),
    });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const inner: Inner[] = [];
    for (const option of ["library-path", "audit", "preload"])
      if (read.seen.has(option)) inner.push({ unresolved: `ld.so --${option}, which loads code` });
    const program = args[read.rest];
    if (!program) return inner;
    // The loader opens a name with a slash as a file; a bare one it looks for along library paths.
    if (!program.text.includes("/")) inner.push({ unresolved: `ld.so ${program.text}: a bare name` });
    const path = program.text.includes("/") ? program : staticWord(`./${program.text}`);
    return [...inner, { argv: [path, ...args.slice(read.rest + 1)] }];
  },
};

/** nsenter: into another mount namespace or root, names resolve to other files. */
export const nsenter: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const read = readOptions(args, { short: "tSGW", long: ["target", "setuid", "setgid", "wdns", "env"] });
    if (read.dynamic) return [{ hidden: `the option ${read.dynamic}` }];
    const inner: Inner[] = [];
    const elsewhere = ["m", "mount", "a", "all", "r", "root", "w", "wd", "W", "wdns", "U", "user"];
    if (elsewhere.some((o) => read.seen.has(o)))
      inner.push({ unresolved: "nsenter into another namespace's files" });
    const argv = args.slice(read.rest);
    return argv.length > 0 ? [...inner, { argv }] : inner;
  },
};

/** bwrap's options by the number of words they take; any other `--name` takes none. */
const BWRAP_ARITY: Record<string, number> = Object.fromEntries([
  ..."setenv bind bind-try dev-bind dev-bind-try ro-bind ro-bind-try bind-fd ro-bind-fd file bind-data ro-bind-data symlink chmod"
    .split(" ")
    .map((o) => [o, 2]),
  ["overlay", 3],
  ..."args argv0 chdir unsetenv lock-file sync-fd remount-ro exec-label file-label proc dev tmpfs mqueue dir seccomp add-seccomp-fd block-fd userns-block-fd info-fd json-status-fd cap-add cap-drop perms size uid gid hostname userns userns2 pidns overlay-src tmp-overlay ro-overlay"
    .split(" ")
    .map((o) => [o, 1]),
]);

/** bwrap: the program after its options runs in a file system bwrap put together. */
export const bwrap: Wrapper = {
  ownRule: true,
  unwrap(args) {
    const inner: Inner[] = [{ unresolved: "bwrap, whose program is found in the file system it builds" }];
    let i = 0;
    for (; i < args.length && args[i]?.text.startsWith("--"); i++) {
      const name = (args[i] as Word).text.slice(2);
      if (name === "") return [...inner, ...(args.length > i + 1 ? [{ argv: args.slice(i + 1) }] : [])];
      if (name === "args") inner.push({ hidden: "bwrap --args, which reads more options from a file" });
      if (name === "chdir") inner.push({ changes: "directory", how: "bwrap --chdir" });
      i += BWRAP_ARITY[name] ?? 0;
    }
    if (args[i]?.dynamic !== undefined) return [{ hidden: `the word ${args[i]?.text}` }];
    return args.length > i ? [...inner, { argv: args.slice(i) }] : inner;
  },
};
