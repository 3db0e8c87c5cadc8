import { constants, mkdirSync } from "node:fs";
import { type FileHandle, lstat, open, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { ULID_PATTERN } from "@clawguard/shared/ids";

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

  constructor(dir: string) {
    this.dir = dir;
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
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return open(
      this.path(id),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND,
      0o600,
    );
  }

  async writeMeta(meta: SpillMeta): Promise<void> {
    await writeFile(join(this.dir, `${SpillStore.checkId(meta.id)}.json`), JSON.stringify(meta), {
      mode: 0o600,
    });
  }

  async meta(id: string): Promise<SpillMeta | undefined> {
    try {
      return JSON.parse(
        await readFile(join(this.dir, `${SpillStore.checkId(id)}.json`), "utf8"),
      ) as SpillMeta;
    } catch {
      return undefined;
    }
  }

  /** Opens a spill for reading; `not_found` when there is none, never a path outside the directory. */
  async open(id: string): Promise<{ handle: FileHandle; size: number }> {
    const path = this.path(id);
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
