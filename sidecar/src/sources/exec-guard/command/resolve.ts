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
   * Names an allow rule may use for it: the real file and its name, and where it was found when
   * that is a system directory, whose links the administrator made (`awk -> /etc/alternatives/awk
   * -> mawk` is awk); a link anywhere else counts only as what it points to.
   */
  identities: string[];
}

const SYSTEM_DIRS = new Set(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]);

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
  const trusted = path && SYSTEM_DIRS.has(dirname(path)) ? [path, basename(path)] : [];
  const identities = real ? [...new Set([...trusted, real, name])] : [...new Set([written, called])];
  return { ...(path ? { path } : {}), ...(real ? { real } : {}), name, identities };
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
