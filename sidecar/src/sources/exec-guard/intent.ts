import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";

/** Room kept beside the pass-through output: the outcome's event and the spill's meta file. */
const AUDIT_ROOM = 64 * 1024;

/**
 * Fails (ENOSPC) when the spill folder's filesystem has no room for an output at the pass-through
 * limit and the outcome's event: the output goes to a file there, and a full disk would eat it.
 */
export function checkRoom(dir: string, maxBytes: number): void {
  let at = dir;
  for (;;) {
    try {
      const fs = statfsSync(at);
      const free = fs.bavail * fs.bsize;
      const need = maxBytes + AUDIT_ROOM;
      if (free < need)
        throw Object.assign(
          new Error(
            `ENOSPC: ${Math.floor(free / 1024)} KiB free in ${dir}, ${Math.ceil(need / 1024)} KiB needed for its output and audit events`,
          ),
          { code: "ENOSPC" },
        );
      return;
    } catch (err) {
      const parent = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || parent === at) {
        if ((err as NodeJS.ErrnoException).code === "ENOSPC") throw err;
        return; // cannot tell: the writes themselves will say
      }
      at = parent;
    }
  }
}

/** Why an audit write failed (ENOSPC, EDQUOT, EROFS, ...), as a message leading with its code. */
export function auditFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const message = String(e.message ?? e);
  return e.code && !message.startsWith(e.code) ? `${e.code}: ${message}` : message;
}

/**
 * Records the exec's intent (exec.started) before its command runs, after checking there is room
 * for its output and outcome. Returns why it is refused (no room, and exec.onAuditFailure is
 * refuse), or nothing: recorded, or run anyway with a warning added.
 */
export function recordIntent(o: {
  recordStart: ((draft: EventDraft) => void) | undefined;
  onAuditFailure: "refuse" | "run";
  spillDir: string;
  maxBytes: number;
  command: string;
  warnings: string[];
  started: () => EventDraft;
}): { message: string; why: string } | undefined {
  if (!o.recordStart) return undefined;
  try {
    checkRoom(o.spillDir, o.maxBytes);
    o.recordStart(o.started());
    return undefined;
  } catch (err) {
    const why = auditFailure(err);
    if (o.onAuditFailure !== "run")
      return {
        why,
        message: `clawguard: refused to run ${o.command}: its audit event cannot be recorded (${why}); free space in the workspace, or set exec.onAuditFailure: run\n`,
      };
    o.warnings.push(
      `clawguard: warning: running ${o.command} WITHOUT its start event (${why}); exec.onAuditFailure is run\n`,
    );
    return undefined;
  }
}
