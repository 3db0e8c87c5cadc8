import { chmodSync, constants, lchownSync, lstatSync, mkdirSync } from "node:fs";
import { type FileHandle, lstat, open, realpath, rm } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { mkdirp } from "@clawguard/shared/fs-dirs";
import { ULID_PATTERN } from "@clawguard/shared/ids";
import { ACCESS_DENIED, insidePath } from "../../workspace-path.ts";

/** What is known about a spill once its command has finished; stored beside it as `<id>.json`. */
export interface SpillMeta {
  id: string;
  agent: string;
  session?: string | undefined;
  command: string;
  createdAt: string;
  bytes: number;
  lines: number;
  sha256: string;
  exitCode: number;
  binary: boolean;
}

/**
 * Spill files under `<workspace>/.clawguard/spill/`: raw output, mode 0600, named by ULID. Every
 * lookup validates the id and refuses anything that is not a plain file inside the directory, so no
 * id can ever read outside it.
 *
 * The agent-side `clawguard exec` writes its spills as the agent's user. The sidecar writes the
 * context guard's (old tool outputs, only what the agent already had) as another user (root in
 * its container): with a workspace given, each folder it makes and each file it writes is handed
 * to the workspace's owner (lchown/fchown, never through a link), so the agent reads them with
 * `clawguard read`. A sidecar that may not chown (not root, another user) makes them readable to
 * all instead (0644 files, 0755 folders).
 */
export class SpillStore {
  readonly dir: string;
  /** The workspace: when given, no folder from it down to a spill file may be a symbolic link. */
  readonly workspace: string | undefined;

  constructor(dir: string, workspace?: string) {
    this.dir = dir;
    this.workspace = workspace;
  }

  /** `name` in the spill folder, checked (workspace-path.ts) when the store knows its workspace. */
  #file(name: string): string {
    if (this.workspace === undefined) return join(this.dir, name);
    return insidePath(this.workspace, relative(this.workspace, join(this.dir, name)).split(sep).join("/"));
  }

  /** The workspace's owner, when it is not this process's user (then what the store writes is handed over). */
  #owner(): { uid: number; gid: number } | undefined {
    if (this.workspace === undefined) return undefined;
    const { uid, gid } = lstatSync(this.workspace);
    return uid === process.getuid?.() && gid === process.getgid?.() ? undefined : { uid, gid };
  }

  /**
   * The spill folder, made: each folder below the workspace checked (no link), and each this user
   * makes (or made before) handed over.
   */
  #makeDir(): void {
    const owner = this.#owner();
    if (this.workspace === undefined || owner === undefined) {
      this.#file(".");
      mkdirp(this.dir);
      return;
    }
    const parts = relative(this.workspace, this.dir).split(sep);
    for (let i = 1; i <= parts.length; i++) {
      const path = insidePath(this.workspace, parts.slice(0, i).join("/"));
      const there = lstatSync(path, { throwIfNoEntry: false });
      // A folder this user made before (an earlier version kept it to itself, 0700): handed over too.
      if (there?.isDirectory() && there.uid === process.getuid?.()) handOver(path, owner, 0o755);
      if (there) continue;
      try {
        mkdirSync(path, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue; // made by a spill beside this one
        throw err;
      }
      handOver(path, owner, 0o755);
    }
  }

  /** A file the store just wrote, given to the workspace's owner (or, failing that, made readable). */
  async #handOverFile(file: FileHandle): Promise<void> {
    const owner = this.#owner();
    if (!owner) return;
    try {
      await file.chown(owner.uid, owner.gid);
    } catch (err) {
      if (!ACCESS_DENIED.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      await file.chmod(0o644);
    }
  }

  static checkId(id: string): string {
    if (!ULID_PATTERN.test(id)) {
      throw new ClawguardError(
        "input.invalid",
        `not a spill id: ${JSON.stringify(id.slice(0, 64))} (expected a 26-char ULID)`,
      );
    }
    return id;
  }

  path(id: string): string {
    return join(this.dir, `${SpillStore.checkId(id)}.out`);
  }

  /** A new spill file for writing, created exclusively (never follows or reuses an existing file). */
  async create(id: string): Promise<FileHandle> {
    this.#makeDir();
    const file = await open(
      this.#file(`${SpillStore.checkId(id)}.out`),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await this.#handOverFile(file);
    } catch (err) {
      await file.close();
      throw err;
    }
    return file;
  }

  async writeMeta(meta: SpillMeta): Promise<void> {
    const file = await open(
      this.#file(`${SpillStore.checkId(meta.id)}.json`),
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await this.#handOverFile(file);
      await file.writeFile(JSON.stringify(meta));
    } finally {
      await file.close();
    }
  }

  async meta(id: string): Promise<SpillMeta | undefined> {
    try {
      const file = await open(
        this.#file(`${SpillStore.checkId(id)}.json`),
        constants.O_RDONLY | constants.O_NOFOLLOW,
      );
      try {
        return JSON.parse(await file.readFile("utf8")) as SpillMeta;
      } finally {
        await file.close();
      }
    } catch {
      return undefined;
    }
  }

  /** Opens a spill for reading; `not_found` when there is none, never a path outside the directory. */
  async open(id: string): Promise<{ handle: FileHandle; size: number }> {
    const path = this.#file(`${SpillStore.checkId(id)}.out`);
    let stats: Awaited<ReturnType<typeof lstat>>;
    try {
      stats = await lstat(path);
    } catch {
      throw new ClawguardError("not_found", `no spill ${id} in ${this.dir}`);
    }
    if (!stats.isFile()) throw new ClawguardError("input.invalid", `spill ${id} is not a regular file`);
    const real = await realpath(path);
    const root = await realpath(this.dir);
    if (!real.startsWith(root + sep))
      throw new ClawguardError("input.invalid", `spill ${id} resolves outside ${this.dir}`);
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    return { handle, size: stats.size };
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
    await rm(join(this.dir, `${SpillStore.checkId(id)}.json`), { force: true });
  }
}

/** A folder the store made, given to `owner` without following a link (or, failing that, made readable). */
function handOver(path: string, owner: { uid: number; gid: number }, fallbackMode: number): void {
  try {
    lchownSync(path, owner.uid, owner.gid);
  } catch (err) {
    if (!ACCESS_DENIED.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
    chmodSync(path, fallbackMode);
  }
}
