import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { basename, delimiter, dirname, isAbsolute, resolve } from "node:path";

/** Programs that act as the program named by how they were called (`ln -s busybox rm`). */
const MULTI_CALL = new Set(["busybox", "toybox", "coreutils"]);

export interface ResolvedProgram {
  /** Where the name was found: through PATH for a bare name, else against the working directory. */
  path?: string;
  /** That file after every symlink. */
  real?: string;
  /** What runs, by name: the real file's name, or for a multi-call binary the name it was called by. */
  name: string;
  /**
   * Names an allow rule may use for it: the real file always; its name, and where it was found,
   * only when that file is in a trusted system directory (a link there the administrator made:
   * `awk -> /etc/alternatives/awk -> mawk` is awk). A file anywhere else (the workspace, /tmp, a
   * home directory) matches only by its real path: a copy of rm named `ls` is not ls.
   */
  identities: string[];
  /** Whether the real file (or the link found) is in a trusted system directory. */
  trusted: boolean;
}

const SYSTEM_DIRS = new Set(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]);

/**
 * A system directory whose files the agent cannot have put there: one of SYSTEM_DIRS, not writable
 * by everyone, and (unless the check runs as root, who can write anywhere) not by this user, nor
 * the file itself. An agent that is root in its container can replace any of them: keeping it from
 * being so is the sandbox's part.
 */
function isTrusted(file: string): boolean {
  const dir = dirname(file);
  if (!SYSTEM_DIRS.has(dir)) return false;
  try {
    if ((statSync(dir).mode & 0o002) !== 0) return false;
    if (process.getuid?.() === 0) return true;
    return !writable(dir) && !writable(file);
  } catch {
    return false;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds a program as execvp would (PATH for a bare name) and follows its symlinks. */
export function resolveProgram(written: string, env: NodeJS.ProcessEnv, cwd: string): ResolvedProgram {
  const path = written.includes("/") ? resolve(cwd, written) : searchPath(written, env.PATH, cwd);
  let real: string | undefined;
  try {
    if (path) real = realpathSync(path);
  } catch {
    // A dangling link: nothing runs.
  }
  const called = basename(written);
  const realName = real ? basename(real) : called;
  const name = MULTI_CALL.has(realName) && !MULTI_CALL.has(called) ? called : realName;
  const foundTrusted = path !== undefined && isTrusted(path);
  const trusted = foundTrusted || (real !== undefined && isTrusted(real));
  const byName = [...(foundTrusted ? [path, basename(path)] : []), ...(trusted ? [name] : [])];
  // A file that is not there (or a dangling link) is nothing an allow rule names: what would run
  // is whatever appears there between the check and the run.
  const identities = real ? [...new Set([...byName, real])] : [];
  return { ...(path ? { path } : {}), ...(real ? { real } : {}), name, identities, trusted };
}

export const isMultiCall = (name: string) => MULTI_CALL.has(name);

function searchPath(name: string, pathVar: string | undefined, cwd: string): string | undefined {
  for (const dir of (pathVar ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter)) {
    // An empty entry is the working directory, as in execvp.
    const candidate = resolve(cwd, dir === "" ? "." : dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!isAbsolute(file) || !statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
