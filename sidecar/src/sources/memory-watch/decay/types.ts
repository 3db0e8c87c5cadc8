import type { MemoryDecayConfig } from "./config.ts";

/** A file as planning saw it. Paths are relative to the workspace, with `/`. */
export interface PlannedFile {
  from: string;
  bytes: number;
  sha256: string;
}

export interface CompactSource extends PlannedFile {
  /** A daily log, or a weekly file merged into the week's archived file. */
  kind: "daily" | "weekly";
  /** The daily log's date; null for a weekly file. */
  date: string | null;
  /** Where the source goes once the week holds it. */
  trash: string;
}

export type DecayOp =
  | { op: "archive"; from: string; to: string; bytes: number; sha256: string }
  | { op: "compact"; week: string; to: string; sources: CompactSource[] }
  | { op: "expire"; from: string; to: string; bytes: number; sha256: string }
  | { op: "purge"; from: string; bytes: number; sha256: string };

export interface DecayPlan {
  workspace: string;
  /** The instant the ages were computed at, and its date in config.timeZone. */
  now: string;
  today: string;
  config: MemoryDecayConfig;
  /** In the order they run: archive moves, compactions, expiries of temporary files, purges. */
  ops: DecayOp[];
  /** Files in decay's folders it leaves alone, and why. */
  skipped: { path: string; reason: string }[];
  /** Set when the plan finishes an interrupted run: `ops` are its ops from step `from` on. */
  resume?: { run: string; from: number };
}

/** One move or deletion, as the dry run prints it and the `memory.decayed` event reports it. */
export interface DecayAction {
  op: "compact" | "merge" | "trash" | "archive" | "expire" | "purge";
  from: string;
  to: string | null;
  bytes: number;
  sha256: string;
}
