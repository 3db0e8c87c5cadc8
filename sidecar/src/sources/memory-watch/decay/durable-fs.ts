import {
  closeSync,
  constants,
  fchownSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmdirSync,
  type Stats,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";

/** Called after every change decay makes to the disk (the crash tests kill the process in it). */
export type StepHook = (step: number, label: string) => void;

/** What `link` fails with where a volume has no hard links (some network and FUSE file systems). */
const NO_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK", "EXDEV"]);

export function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

export const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

/**
 * The few changes decay makes, each made durable before it returns: file contents are fsynced
 * before they are renamed into place, and a directory is fsynced after an entry in it is added,
 * renamed or removed. Moves never replace an existing file.
 */
export class DurableFs {
  readonly #hook: StepHook | undefined;
  #steps = 0;

  constructor(hook?: StepHook) {
    this.#hook = hook;
  }

  /** How many changes this instance has made so far. */
  get steps(): number {
    return this.#steps;
  }

  step(label: string): void {
    this.#steps++;
    this.#hook?.(this.#steps, label);
  }

  fsyncDir(dir: string): void {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.step(`fsync-dir ${dir}`);
  }

  /** Creates `dir` and its missing parents, each one made durable in its parent. */
  mkdirp(dir: string): void {
    const st = lstatOrUndefined(dir);
    if (st?.isDirectory()) return;
    if (st) throw new ClawguardError("input.invalid", `${dir}: expected a directory, found a file`);
    this.mkdirp(dirname(dir));
    mkdirSync(dir, { mode: 0o755 });
    this.step(`mkdir ${dir}`);
    this.fsyncDir(dirname(dir));
  }

  /**
   * Writes `data` to `tmp`, fsyncs it, renames it over `path`, fsyncs the directory. `like` gives
   * the new file's mode and, when we may, owner (the agent may run as another user than decay).
   * `beforeRename` runs once the data is durable; it returns false to give up (tmp is removed).
   */
  writeAtomic(
    path: string,
    data: Uint8Array | string,
    options: { tmp?: string; like?: Stats | undefined; beforeRename?: () => boolean } = {},
  ): boolean {
    const tmp = options.tmp ?? `${path}.tmp`;
    const mode = options.like ? options.like.mode & 0o777 : 0o600;
    // Never through a link planted at the temp name: created new (a leftover is removed first).
    const create = () =>
      openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    let fd: number;
    try {
      fd = create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      unlinkSync(tmp);
      fd = create();
    }
    try {
      this.step(`create ${tmp}`);
      if (options.like) {
        try {
          fchownSync(fd, options.like.uid, options.like.gid);
        } catch {
          // Only root may give a file away; then it stays ours, with the same mode.
        }
      }
      const buf = typeof data === "string" ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      this.step(`write ${tmp}`);
      fsyncSync(fd);
      this.step(`fsync ${tmp}`);
    } finally {
      closeSync(fd);
    }
    if (options.beforeRename && !options.beforeRename()) {
      this.unlink(tmp);
      return false;
    }
    renameSync(tmp, path);
    this.step(`rename ${tmp} -> ${path}`);
    this.fsyncDir(dirname(path));
    return true;
  }

  /**
   * Moves `from` to `to` without ever replacing a file at `to`: a hard link, then the old name is
   * removed. After a crash between the two, both names are the same file (apply's finishMove completes it).
   */
  move(from: string, to: string): void {
    this.mkdirp(dirname(to));
    try {
      linkSync(from, to);
      this.step(`link ${from} -> ${to}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (code === "EEXIST") {
        const [a, b] = [lstatOrUndefined(from), lstatOrUndefined(to)];
        if (!a || !b || !sameFile(a, b)) {
          throw new ClawguardError(
            "internal",
            `cannot move ${from} to ${to}: a different file is already there; nothing was replaced`,
            { cause: err },
          );
        }
      } else if (NO_LINKS.has(code)) {
        if (lstatOrUndefined(to)) {
          throw new ClawguardError("internal", `cannot move ${from} to ${to}: a file is already there`);
        }
        renameSync(from, to);
        this.step(`rename ${from} -> ${to}`);
        this.fsyncDir(dirname(to));
        this.fsyncDir(dirname(from));
        return;
      } else {
        throw err;
      }
    }
    this.fsyncDir(dirname(to));
    unlinkSync(from);
    this.step(`unlink ${from}`);
    this.fsyncDir(dirname(from));
  }

  unlink(path: string): void {
    unlinkSync(path);
    this.step(`unlink ${path}`);
    this.fsyncDir(dirname(path));
  }

  /** Removes the empty directories from `dir` up to (not including) `stop`. */
  pruneEmptyDirs(dir: string, stop: string): void {
    for (let d = dir; d !== stop && d.startsWith(stop); d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") continue; // removed by a run that was killed before its parent
        if (code === "ENOTEMPTY" || code === "EEXIST") return;
        throw err;
      }
      this.step(`rmdir ${d}`);
      this.fsyncDir(dirname(d));
    }
  }
}
