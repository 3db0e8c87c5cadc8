import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";

/**
 * Leaves a draft for the sidecar, durably: written to a temp file, fsynced, renamed into place, and
 * the directory fsynced. Works whether or not the sidecar runs; it drains the inbox when it can.
 */
export function dropInInbox(dir: string, draft: EventDraft): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${draft.id}.json`);
  const tmp = join(dir, `.${draft.id}.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, JSON.stringify(draft));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return path;
}
