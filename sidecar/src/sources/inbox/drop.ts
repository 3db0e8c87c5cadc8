import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";

/**
 * Leaves a draft for the sidecar, durably: written to a temp file, fsynced, renamed into place, and
 * the directory fsynced. Works whether or not the sidecar runs; it drains the inbox when it can.
 */
export function dropInInbox(dir: string, draft: EventDraft): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${draft.id}.json`);
  writeFileAtomic(path, JSON.stringify(draft));
  return path;
}
