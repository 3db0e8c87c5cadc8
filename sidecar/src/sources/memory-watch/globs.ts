/**
 * The few glob forms memory paths need (`MEMORY.md`, `memory/**\/*.md`, `*.md`): `**` for any
 * number of folders, `*` and `?` within one name. Paths are relative, with `/` separators.
 */
/** A path with a folder whose name starts with a dot. */
const HIDDEN = /(^|\/)\.[^/]*\//;

export class Globs {
  readonly #patterns: { regex: RegExp; segments: (RegExp | "**")[] }[];

  constructor(globs: readonly string[]) {
    this.#patterns = globs.map((glob) => ({
      regex: toRegExp(glob),
      segments: glob.split("/").map((segment) => (segment === "**" ? "**" : toRegExp(segment))),
    }));
  }

  /** Whether a file at `path` is one to watch (never inside a hidden folder: .trash, .decay, .git). */
  matches(path: string): boolean {
    return !HIDDEN.test(path) && this.#patterns.some((p) => p.regex.test(path));
  }

  /** Whether the folder at `dir` may hold a file to watch (so a watcher must look inside). */
  mayContain(dir: string): boolean {
    if (dir === "" || dir === ".") return true;
    if (HIDDEN.test(`${dir}/`)) return false;
    const parts = dir.split("/");
    return this.#patterns.some(({ segments }) => {
      for (let i = 0; i < parts.length; i++) {
        const segment = segments[i];
        if (segment === undefined || i === segments.length - 1) return false; // the last segment names files
        if (segment === "**") return true;
        if (!segment.test(parts[i] as string)) return false;
      }
      return true;
    });
  }
}

function toRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      // `**/` is zero or more folders; a trailing `**` is anything.
      if (glob[i + 2] === "/") {
        source += "(?:[^/]+/)*";
        i += 2;
      } else {
        source += ".*";
        i += 1;
      }
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
