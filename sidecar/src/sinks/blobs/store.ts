import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic, writeFileAtomicAsync } from "@clawguard/shared/fs-atomic";
import { mkdirp } from "@clawguard/shared/fs-dirs";

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Content waiting to reach the collector, one file per sha256 (content-addressed: a version two
 * files share is kept once). A blob is written whole (temp file, fsync, rename) before the event
 * that names it exists, and removed only once the collector has it: no version is ever lost
 * between the watcher seeing it and the collector storing it.
 */
export class BlobStore {
  readonly dir: string;
  /** At most this many bytes wait (undefined: no cap). */
  readonly maxBytes: number | undefined;
  #bytes = 0;
  /** Blobs being written by putAsync: a second put of one waits for the first. */
  readonly #writing = new Map<string, Promise<boolean>>();

  /**
   * `maxBytes` bounds the content waiting: the store shares the sidecar's state folder with the
   * spool, and the agent writes its memory files as fast and as large as it likes, so without a cap
   * its memory could fill the disk the audit trail needs.
   */
  constructor(dir: string, maxBytes?: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    mkdirp(dir);
    for (const name of this.list()) this.#bytes += this.#size(name);
  }

  /** Bytes waiting to be shipped. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Keeps a version's content; false when it is not kept: over the cap, or the disk refused it (the
   * version is still recorded, by its hash and size, without its content).
   */
  put(sha256: string, content: Buffer): boolean {
    const path = join(this.dir, sha256);
    if (existsSync(path)) return true;
    if (!this.#room(content.length)) return false;
    try {
      writeFileAtomic(path, content);
    } catch {
      return false;
    }
    this.#bytes += content.length;
    return true;
  }

  /**
   * put, with the write and its fsyncs off the event loop: the sidecar's memory watcher keeps each
   * version this way, so the LLM calls it serves meanwhile do not wait on the disk (a synchronous
   * put held the loop 8-10 ms at the median, up to 280 ms, on a busy disk). The bytes are counted
   * from the start of the write, so puts at once cannot pass the cap together.
   */
  putAsync(sha256: string, content: Buffer): Promise<boolean> {
    const writing = this.#writing.get(sha256);
    if (writing) return writing;
    const path = join(this.dir, sha256);
    if (existsSync(path)) return Promise.resolve(true);
    if (!this.#room(content.length)) return Promise.resolve(false);
    this.#bytes += content.length;
    const written = writeFileAtomicAsync(path, content).then(
      () => true,
      () => {
        this.#bytes -= content.length;
        return false;
      },
    );
    this.#writing.set(sha256, written);
    void written.then(() => this.#writing.delete(sha256));
    return written;
  }

  #room(bytes: number): boolean {
    return this.maxBytes === undefined || this.#bytes + bytes <= this.maxBytes;
  }

  #size(name: string): number {
    return statSync(join(this.dir, name), { throwIfNoEntry: false })?.size ?? 0;
  }

  /** The blobs waiting, oldest names first is not promised: any order is fine for upload. */
  list(): string[] {
    return readdirSync(this.dir).filter((name) => SHA256.test(name));
  }

  read(sha256: string): Promise<Buffer> {
    return readFile(join(this.dir, sha256));
  }

  remove(sha256: string): void {
    this.#bytes = Math.max(0, this.#bytes - this.#size(sha256));
    rmSync(join(this.dir, sha256), { force: true });
  }

  /** Sets a blob the collector will never take aside, out of the upload queue but kept. */
  reject(sha256: string): void {
    const dir = join(this.dir, "rejected");
    mkdirp(dir);
    this.#bytes = Math.max(0, this.#bytes - this.#size(sha256));
    renameSync(join(this.dir, sha256), join(dir, sha256));
  }
}
