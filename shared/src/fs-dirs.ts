import { accessSync, constants, lstatSync, mkdirSync, statfsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";

/**
 * Kernel pseudo filesystems (statfs f_type): nothing clawguard keeps can live there, and Node's
 * recursive mkdirSync never returns under /proc (it spins, deaf to SIGTERM).
 */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "procfs"],
  [0x62656572, "sysfs"],
  [0x27e0eb, "cgroupfs"],
  [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"],
  [0x73636673, "securityfs"],
  [0x74726163, "tracefs"],
  [0xcafe4a11, "bpffs"],
]);
const PSEUDO_ROOTS = ["/proc", "/sys"];

function exists(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

/**
 * What is wrong with a directory the config names, before anything is created: the path or its
 * nearest existing ancestor is not a directory, not writable, or on a kernel pseudo filesystem.
 * Undefined when the directory is there or can be made. `key` names the setting in the message.
 */
export function dirProblem(key: string, path: string): string | undefined {
  const dir = resolve(path);
  const pseudoRoot = PSEUDO_ROOTS.find((root) => dir === root || dir.startsWith(`${root}${sep}`));
  if (pseudoRoot)
    return `${key}: ${dir} is under ${pseudoRoot}, a kernel pseudo filesystem: choose a real folder`;
  let at = dir;
  try {
    let stat = exists(at);
    while (!stat && dirname(at) !== at) {
      at = dirname(at);
      stat = exists(at);
    }
    if (!stat) return `${key}: no existing folder above ${dir}`;
    const what = at === dir ? dir : `${at} (above ${dir})`;
    if (!stat.isDirectory()) return `${key}: ${what} is not a folder`;
    const fs = PSEUDO_FS.get(Number(statfsSync(at).type));
    if (fs) return `${key}: ${what} is on ${fs}, a kernel pseudo filesystem: choose a real folder`;
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return `${key}: cannot use ${at === dir ? dir : `${at} (above ${dir})`}: ${e.code ?? e.message}`;
  }
  return undefined;
}

/**
 * mkdir -p, one level at a time (never Node's recursive mkdirSync, which can spin forever under
 * /proc). Made levels get `mode`; existing ones are left as they are. Throws what mkdir throws.
 */
export function mkdirp(path: string, mode = 0o700): void {
  const dir = resolve(path);
  const missing: string[] = [];
  let at = dir;
  let stat = exists(at);
  while (!stat && dirname(at) !== at) {
    missing.push(at);
    at = dirname(at);
    stat = exists(at);
  }
  if (stat && !stat.isDirectory() && missing.length === 0) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: "ENOTDIR" });
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level, { mode });
    } catch (err) {
      // Made meanwhile by another process (two sidecars sharing a volume): as good as made.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !exists(level)?.isDirectory()) throw err;
    }
  }
}

/**
 * `<name>-<uid>` in the temporary directory: TMPDIR when it is absolute, else /tmp (a relative one
 * would put it in whatever folder a command runs from). For privateDir to make and check.
 */
export function userTmpDir(name: string): string {
  const tmp = isAbsolute(tmpdir()) ? tmpdir() : "/tmp";
  return join(tmp, `${name}-${process.getuid?.() ?? "user"}`);
}

/** The directory, created 0700 when missing, if it is a real directory only this user can write. */
export function privateDir(dir: string): boolean {
  try {
    mkdirp(dir);
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}
