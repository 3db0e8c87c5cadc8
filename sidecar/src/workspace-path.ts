import { closeSync, constants, lstatSync, openSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";

/**
 * Paths in the agent's workspace, which the agent's container writes: any folder or file in it
 * may be a symbolic link planted to send the sidecar elsewhere (`memory/tmp -> /etc`, a spill
 * folder pointing at the sidecar's own state). Every file operation of the sidecar on the
 * workspace goes through `insidePath`, which checks each component below the root with lstat
 * just before use and refuses a link, and opens files with O_NOFOLLOW.
 *
 * What this does not close: a component swapped for a link between the check and the use (Node
 * has no openat/RESOLVE_BENEATH). The window is one system call wide, and the sidecar's own
 * container is what a link could reach: the sidecar keeps no secret on disk that it would read
 * through such a path (the spill and memory readers only ever read their own file names).
 */

/** Why a path was refused: `symlink`, `not_directory`, or the errno of a component (EACCES...). */
export type UnsafeReason = "symlink" | "not_directory" | string;

export class UnsafePathError extends ClawguardError {
  readonly reason: UnsafeReason;
  /** The workspace-relative path of the component at fault. */
  readonly at: string;

  constructor(rel: string, at: string, reason: UnsafeReason, cause?: unknown) {
    const why =
      reason === "symlink"
        ? `${at} is a symbolic link (clawguard never follows one in the workspace)`
        : reason === "not_directory"
          ? `${at} is not a directory`
          : `cannot look at ${at}: ${reason}`;
    super("input.invalid", `${rel}: ${why}`, { cause, details: { path: rel, at, reason } });
    this.name = "UnsafePathError";
    this.reason = reason;
    this.at = at;
  }
}

export const isUnsafePath = (err: unknown): err is UnsafePathError => err instanceof UnsafePathError;

/** The errno codes that mean "not allowed", as opposed to "not there" or "broken". */
export const ACCESS_DENIED = new Set(["EACCES", "EPERM"]);

/** `rel` (with `/`, relative to root, or absolute under it) split into checked components. */
function components(root: string, rel: string): string[] {
  const inner = isAbsolute(rel) ? relative(root, rel).split(sep).join("/") : rel;
  const parts = inner.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..") || isAbsolute(relative(root, join(root, ...parts)))) {
    throw new UnsafePathError(rel, rel, "outside the workspace");
  }
  return parts;
}

/**
 * The absolute path of `rel` under `root`, after checking with lstat that no component below the
 * root is a symbolic link (the last one included) and that every one but the last is a directory.
 * Components that do not exist end the check (what is created there is created by the caller).
 */
export function insidePath(root: string, rel: string): string {
  const parts = components(root, rel);
  let path = root;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i] as string);
    const at = parts.slice(0, i + 1).join("/");
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path, { throwIfNoEntry: false });
    } catch (err) {
      throw new UnsafePathError(rel, at, (err as NodeJS.ErrnoException).code ?? "error", err);
    }
    if (!st) return join(root, ...parts);
    if (st.isSymbolicLink()) throw new UnsafePathError(rel, at, "symlink");
    if (i < parts.length - 1 && !st.isDirectory()) throw new UnsafePathError(rel, at, "not_directory");
  }
  return path;
}

/** Reads a workspace file: every component checked, and the file itself opened with O_NOFOLLOW. */
export function readInside(root: string, rel: string): Buffer {
  const path = insidePath(root, rel);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
