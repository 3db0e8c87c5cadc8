import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { fsyncDir, writeFileAtomic } from "@clawguard/shared/fs-atomic";
import { mkdirp } from "@clawguard/shared/fs-dirs";

/** Room set aside for an outcome's draft (a bounded exec.completed is a few KiB; a bigger one is written anew). */
export const RESERVED_DRAFT_BYTES = 16 * 1024;
/** A reservation's name: hidden, so the sidecar never takes it for a draft. */
export const RESERVED_FILE = /^\.reserved-[0-9A-Z]{26}\.tmp$/;

/**
 * Leaves a draft for the sidecar, durably: written to a temp file, fsynced, renamed into place, and
 * the directory fsynced. Works whether or not the sidecar runs; it drains the inbox when it can.
 */
export function dropInInbox(dir: string, draft: EventDraft): string {
  mkdirp(dir);
  const path = join(dir, `${draft.id}.json`);
  writeFileAtomic(path, JSON.stringify(draft));
  return path;
}

/**
 * Sets aside, before a command runs, the disk space its outcome's draft will need: a hidden file
 * of RESERVED_DRAFT_BYTES. A disk that fills during the run then cannot lose the outcome.
 * Throws (ENOSPC...) when there is no room for it.
 */
export function reserveDraft(dir: string, key: string): string {
  mkdirp(dir);
  const path = join(dir, `.reserved-${key}.tmp`);
  const fd = openSync(path, "w", 0o600);
  try {
    const room = Buffer.alloc(RESERVED_DRAFT_BYTES, 0x20);
    for (let at = 0; at < room.length; ) at += writeSync(fd, room, at);
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw err;
  }
  closeSync(fd);
  return path;
}

/**
 * Writes the draft into its reservation (in place: no new space), fsyncs it and renames it into the
 * inbox. A draft bigger than the reservation, or a reservation gone, is written as dropInInbox does.
 */
export function dropReserved(reserved: string, draft: EventDraft): string {
  const dir = dirname(reserved);
  const data = Buffer.from(JSON.stringify(draft));
  let fd: number;
  try {
    if (data.length > RESERVED_DRAFT_BYTES) throw new Error("bigger than its reservation");
    fd = openSync(reserved, "r+");
  } catch {
    rmSync(reserved, { force: true });
    return dropInInbox(dir, draft);
  }
  try {
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at, at);
    ftruncateSync(fd, data.length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const path = join(dir, `${draft.id}.json`);
  renameSync(reserved, path);
  fsyncDir(dir);
  return path;
}
