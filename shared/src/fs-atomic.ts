import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** A hidden temp name beside `path`, unique to one write. */
function tempBeside(path: string): string {
  // pid and random: processes of different containers on one volume can share a pid.
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Makes a rename or a new file in `dir` survive a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsyncDir in libuv's pool, for an event loop that serves calls meanwhile. */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a file whole or not at all: a hidden temp file beside it (unique to this write),
 * fsync, rename over the target, fsync of the folder. Readers see the old content or the new.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): void {
  const tmp = tempBeside(path);
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  try {
    const fd = openSync(tmp, "w", mode);
    try {
      for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

/**
 * writeFileAtomic with its write, fsyncs and rename in libuv's pool: for a process whose event loop
 * serves calls meanwhile (the sidecar's proxy), where an fsync on a busy disk holds it for
 * milliseconds, at times hundreds.
 */
export async function writeFileAtomicAsync(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = tempBeside(path);
  try {
    const file = await open(tmp, "w", mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirAsync(dirname(path));
}
