import { Minimatch } from "minimatch";

/**
 * Which memory files to watch, by globs as a shell writes them (minimatch: `**`, `*`, `?`, `[...]`,
 * `{a,b}`, `!(x)`). Paths are relative, with `/` separators. Files inside a folder whose name starts
 * with a dot (.trash, .decay, .git) are never watched, whatever the globs say.
 */
/** A path with a folder whose name starts with a dot. */
const HIDDEN = /(^|\/)\.[^/]*\//;

export class Globs {
  readonly #patterns: Minimatch[];

  constructor(globs: readonly string[]) {
    this.#patterns = globs.map(
      (glob) => new Minimatch(glob, { dot: false, nocomment: true, nonegate: true }),
    );
  }

  /** Whether a file at `path` is one to watch (never inside a hidden folder: .trash, .decay, .git). */
  matches(path: string): boolean {
    return !HIDDEN.test(path) && this.#patterns.some((p) => p.match(path));
  }

  /** Whether the folder at `dir` may hold a file to watch (so a watcher must look inside). */
  mayContain(dir: string): boolean {
    if (dir === "" || dir === ".") return true;
    if (HIDDEN.test(`${dir}/`)) return false;
    // A partial match: the folder's path could be the start of a matching file's.
    return this.#patterns.some((p) => p.match(dir, true));
  }
}
