import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Makes a rename or a new file in `dir` survive a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file whole or not at all: a hidden temp file beside it (unique to this write),
 * fsync, rename over the target, fsync of the folder. Readers see the old content or the new.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): void {
  // pid and random: processes of different containers on one volume can share a pid.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
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
