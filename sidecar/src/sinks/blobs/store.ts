import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Content waiting to reach the collector, one file per sha256 (content-addressed: a version two
 * files share is kept once). A blob is written whole (temp file, fsync, rename) before the event
 * that names it exists, and removed only once the collector has it: no version is ever lost
 * between the watcher seeing it and the collector storing it.
 */
export class BlobStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  put(sha256: string, content: Buffer): void {
    writeFileAtomic(join(this.dir, sha256), content);
  }

  /** The blobs waiting, oldest names first is not promised: any order is fine for upload. */
  list(): string[] {
    return readdirSync(this.dir).filter((name) => SHA256.test(name));
  }

  read(sha256: string): Promise<Buffer> {
    return readFile(join(this.dir, sha256));
  }

  remove(sha256: string): void {
    rmSync(join(this.dir, sha256), { force: true });
  }

  /** Sets a blob the collector will never take aside, out of the upload queue but kept. */
  reject(sha256: string): void {
    const dir = join(this.dir, "rejected");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    renameSync(join(this.dir, sha256), join(dir, sha256));
  }
}
