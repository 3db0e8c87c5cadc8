import { Minimatch } from "minimatch";

/**
 * Which memory files to watch, by globs as a shell writes them (minimatch: `**`, `*`, `?`, `[...]`,
 * `{a,b}`, `!(x)`), in order, as .gitignore reads them: a pattern starting with `!` (not `!(`,
 * an extglob) excludes what the patterns before it matched, and a later one may take it back; the
 * last pattern that matches a path decides (`\!` at the start: a name that starts with `!`).
 * Paths are relative, with `/` separators. A wildcard never matches a name that starts with a dot
 * (`*`, `**`: not .trash, .decay, .git, .notes.md); a pattern that names one does (`.hidden/*.md`).
 */
interface Pattern {
  glob: Minimatch;
  exclude: boolean;
}

export class Globs {
  readonly #patterns: Pattern[];

  constructor(globs: readonly string[]) {
    this.#patterns = globs.map((glob) => {
      const exclude = glob.startsWith("!") && !glob.startsWith("!(");
      return {
        glob: new Minimatch(exclude ? glob.slice(1) : glob, { dot: false, nocomment: true, nonegate: true }),
        exclude,
      };
    });
  }

  /** Whether a file at `path` is one to watch: the last pattern matching it includes it. */
  matches(path: string): boolean {
    let watched = false;
    for (const { glob, exclude } of this.#patterns) if (glob.match(path)) watched = !exclude;
    return watched;
  }

  /** Whether the folder at `dir` may hold a file to watch (so a watcher must look inside). */
  mayContain(dir: string): boolean {
    if (dir === "" || dir === ".") return true;
    // A partial match: the folder's path could be the start of a matching file's. An exclusion
    // does not close a folder: a later pattern may take some of its files back.
    return this.#patterns.some(({ glob, exclude }) => !exclude && glob.match(dir, true));
  }
}
