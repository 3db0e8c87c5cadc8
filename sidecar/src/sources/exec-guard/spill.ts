import { constants, mkdirSync } from "node:fs";
import { type FileHandle, lstat, open, realpath, rm } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { ULID_PATTERN } from "@clawguard/shared/ids";
import { insidePath } from "../../workspace-path.ts";

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
 */
export class SpillStore {
  readonly dir: string;
  /** The workspace: when given, no folder from it down to a spill file may be a symbolic link. */
  readonly #root: string | undefined;

  constructor(dir: string, workspace?: string) {
    this.dir = dir;
    this.#root = workspace;
  }

  /** `name` in the spill folder, checked (workspace-path.ts) when the store knows its workspace. */
  #file(name: string): string {
    if (this.#root === undefined) return join(this.dir, name);
    return insidePath(this.#root, relative(this.#root, join(this.dir, name)).split(sep).join("/"));
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
    this.#file(".");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return open(
      this.#file(`${SpillStore.checkId(id)}.out`),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND,
      0o600,
    );
  }

  async writeMeta(meta: SpillMeta): Promise<void> {
    const file = await open(
      this.#file(`${SpillStore.checkId(meta.id)}.json`),
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o600,
    );
    try {
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
