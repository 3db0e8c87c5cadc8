import { createHash } from "node:crypto";
import { constants, type Dirent, readFileSync } from "node:fs";
import { mkdir, open, readdir } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { draftEvent, type EventDraft, type EventSource } from "@clawguard/shared/events/envelope";
import { writeFileAtomicAsync } from "@clawguard/shared/fs-atomic";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { type FSWatcher, watch } from "chokidar";
import { type OpenClawFile, readOpenClawFile } from "../../openclaw-file.ts";
import { ACCESS_DENIED, insidePath, isUnsafePath, UnsafePathError } from "../../workspace-path.ts";
import { Globs } from "./globs.ts";
import { BOOTSTRAP_FILES, type MemoryWatchConfig, OPENCLAW_BOOTSTRAP_MAX_CHARS } from "./watch-config.ts";

export interface MemoryWatcherOptions {
  workspace: string;
  config: MemoryWatchConfig;
  source: EventSource;
  /** Durable delivery of the events (the sidecar's bus). */
  publish(drafts: EventDraft[]): Promise<unknown>;
  /**
   * Keeps a version's content (for the collector's history) before its event exists; false when it
   * could not (a full backlog): the event then says so.
   */
  keepContent?(sha256: string, content: Buffer): boolean | Promise<boolean>;
  /** What was known at the last stop, so changes made meanwhile are reported at the next start. */
  stateFile?: string;
  log: Logger;
}

interface Known {
  sha256: string;
  size: number;
  /**
   * A hash of each line, sorted (not kept across restarts): 8 bytes a line, where a map of the
   * lines themselves held every watched file's text (10 000 files: most of the sidecar's memory).
   */
  lines?: Float64Array;
}

const DAILY_LOG = /^memory\/\d{4}-\d{2}-\d{2}\.md$/;

/**
 * Watches an agent's memory and bootstrap files. Every settled change (chokidar waits until the
 * file stops changing, and takes write-to-temp-then-rename as one change) is a `memory.changed`
 * event with the file's size, sha256 and lines added and removed; a daily log over its threshold or
 * a bootstrap file over the agent's injection cap is a `memory.oversize` event and a reason the
 * sidecar reports itself degraded.
 */
export class MemoryWatcher implements Component {
  readonly id = "source.memory-watch";
  readonly #o: MemoryWatcherOptions;
  #dropped = 0;
  #droppedLoggedAt = 0;
  readonly #globs: Globs;
  /** openclaw.json as last found broken (said once per change of the file). */
  #brokenSaid: OpenClawFile | undefined;
  readonly #known = new Map<string, Known>();
  readonly #oversize = new Map<string, string>();
  /** One change at a time per file, in the order they came. */
  readonly #queues = new Map<string, Promise<void>>();
  #watcher: FSWatcher | undefined;
  #saveTimer: NodeJS.Timeout | undefined;
  #saving: Promise<void> = Promise.resolve();
  #catchingUp: Promise<void> | undefined;
  /** Set by stop: a catch-up in progress ends after the file it is at (the next start compares again). */
  #stopping = false;
  #watching = false;
  /** The watcher's events while the files are caught up with (published after the passes'). */
  #held: EventDraft[] | undefined;

  constructor(options: MemoryWatcherOptions) {
    this.#o = options;
    this.#globs = new Globs(options.config.globs);
  }

  /** Returns at once: catching up with the files (a first start may find thousands) runs behind. */
  async start(): Promise<void> {
    for (const [path, known] of Object.entries(this.#loadState())) this.#known.set(path, known);
    this.#catchingUp = this.#catchUp().catch((err) =>
      this.#o.log.error("memory watcher could not catch up", { error: String(err) }),
    );
  }

  /**
   * The bootstrap cap: the config's, else openclaw.json's as it is now (read again when it changes),
   * else OpenClaw's default: while it is not there yet, and while it does not load (logged once per
   * change: openclaw.json is the agent's to write, never a reason not to start).
   */
  #bootstrapCap(): number {
    const { bootstrapMaxChars, openclawConfig } = this.#o.config;
    if (bootstrapMaxChars !== undefined) return bootstrapMaxChars;
    if (!openclawConfig) return OPENCLAW_BOOTSTRAP_MAX_CHARS;
    const read = readOpenClawFile(openclawConfig);
    if (read.state === "read") return openClawBootstrapCap(read.doc, this.#o.source.agent);
    if (read.state === "broken" && read !== this.#brokenSaid) {
      this.#brokenSaid = read;
      this.#o.log.warn("bootstrap cap not read: OpenClaw's default applies", {
        error: `memory.openclawConfig: ${read.why}`,
      });
    }
    return OPENCLAW_BOOTSTRAP_MAX_CHARS;
  }

  /** Whether the files as they were at start are reported and watching has begun. */
  get watching(): boolean {
    return this.#watching;
  }

  /** Resolves once the files as they were at start are reported and watching has begun. */
  ready(): Promise<void> {
    return this.#catchingUp ?? Promise.resolve();
  }

  /**
   * Watching starts first, so that every version the agent writes while the files are caught up
   * with is seen (a first start on many files takes seconds: versions written meanwhile were lost).
   * Then what changed while no watcher ran (everything, the first time) is reported, and once the
   * watcher is ready one more pass reports what changed before it saw it. Until then the watcher's
   * own events join the passes' batches, so that each file's events stay in the order of its versions.
   */
  async #catchUp(): Promise<void> {
    const root = this.#o.workspace;
    this.#held = [];
    this.#watcher = watch(root, {
      ignoreInitial: true,
      atomic: true,
      // A link in the workspace may point anywhere: never watched through (nor read: #compare).
      followSymlinks: false,
      awaitWriteFinish: {
        stabilityThreshold: this.#o.config.settleMs,
        pollInterval: Math.min(50, this.#o.config.settleMs),
      },
      ignored: (path, stats) => {
        const rel = toRelative(root, path);
        if (rel === "") return false;
        if (stats?.isDirectory()) return !this.#globs.mayContain(rel);
        // Without stats chokidar asks about a path before knowing what it is: keep folders that may hold files.
        return stats ? !this.#globs.matches(rel) : !this.#globs.matches(rel) && !this.#globs.mayContain(rel);
      },
    });
    const onPath = (path: string) => this.#enqueue(toRelative(root, path));
    this.#watcher.on("add", onPath).on("change", onPath).on("unlink", onPath);
    this.#watcher.on("error", (err) => this.#o.log.warn("memory watcher error", { error: String(err) }));
    const ready = new Promise<void>((resolve) => this.#watcher?.once("ready", () => resolve()));
    await this.#reconcile();
    await ready;
    await this.#reconcile();
    // What is left of the catch-up's events, then the watcher's go straight through.
    while (this.#held.length > 0) await this.#o.publish(this.#held.splice(0));
    this.#held = undefined;
    this.#watching = true;
    await this.#saveState();
  }

  /**
   * Compares every file with what is known; reports the differences in batches (one spool write
   * each). The watcher's events of the meantime join the same batches, in the order each file's
   * comparisons ran (one at a time per file), so a file's versions are reported in order.
   */
  async #reconcile(): Promise<void> {
    const held = this.#held as EventDraft[];
    const unreadable: string[] = [];
    const present = await this.#scan("", unreadable);
    const seen = new Set(present);
    const gone = [...this.#known.keys()].filter(
      (path) => !seen.has(path) && !unreadable.some((dir) => path.startsWith(dir)),
    );
    // Known files the globs no longer take (memory.globs changed: a `!glob` added): forgotten, not read.
    const dropped = gone.filter((path) => !this.#globs.matches(path));
    for (const path of dropped) this.#known.delete(path);
    if (dropped.length > 0)
      this.#o.log.info("memory files no longer watched (memory.globs)", { paths: dropped.slice(0, 20) });
    const paths = [...present, ...gone.filter((path) => this.#globs.matches(path))];
    for (const [i, path] of paths.entries()) {
      if (this.#stopping) {
        this.#o.log.info(
          "memory catch-up cut short: the sidecar is stopping (the next start compares again)",
          {
            compared: i,
            files: paths.length,
          },
        );
        break;
      }
      held.push(...(await this.#serial(path, () => this.#compare(path))));
      if (held.length >= 500) await this.#o.publish(held.splice(0));
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#catchingUp;
    await this.#watcher?.close();
    this.#watcher = undefined;
    await Promise.all(this.#queues.values());
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    await this.#saveState();
  }

  #loadState(): Record<string, Known> {
    if (!this.#o.stateFile) return {};
    try {
      return JSON.parse(readFileSync(this.#o.stateFile, "utf8")) as Record<string, Known>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        this.#o.log.warn("memory watcher state unreadable: every file is reported again", {
          error: String(err),
        });
      }
      return {};
    }
  }

  #saveSoon(): void {
    this.#saveTimer ??= setTimeout(() => {
      this.#saveTimer = undefined;
      void this.#saveState();
    }, 500).unref();
  }

  /**
   * What is known of each file to the state file, after any save still in flight. Its write and
   * fsyncs run in libuv's pool: it was written on the event loop up to twice a second while files
   * changed, and the LLM calls the sidecar serves meanwhile waited on the disk. A save that fails
   * (disk full) is logged; the next change saves again, and a restart without it reports again.
   */
  #saveState(): Promise<void> {
    const file = this.#o.stateFile;
    if (!file) return Promise.resolve();
    this.#saving = this.#saving.then(async () => {
      const state: Record<string, { sha256: string; size: number }> = {};
      for (const [path, { sha256, size }] of this.#known) state[path] = { sha256, size };
      try {
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFileAtomicAsync(file, JSON.stringify(state));
      } catch (err) {
        this.#o.log.warn("memory watcher state not saved", { error: String(err) });
      }
    });
    return this.#saving;
  }

  /** Why the memory makes the sidecar degraded: one reason per oversize file. */
  reasons(): string[] {
    return [...this.#oversize.values()];
  }

  /** Runs `task` after every earlier one of `path`: one change at a time per file, in order. */
  #serial<T>(path: string, task: () => Promise<T>): Promise<T> {
    const result = (this.#queues.get(path) ?? Promise.resolve()).then(task);
    const next = result.then(
      () => {},
      () => {},
    );
    this.#queues.set(path, next);
    void next.then(() => {
      if (this.#queues.get(path) === next) this.#queues.delete(path);
    });
    return result;
  }

  #enqueue(path: string): void {
    if (!this.#globs.matches(path)) return;
    void this.#serial(path, async () => {
      const drafts = await this.#compare(path);
      if (drafts.length === 0) return;
      // While catching up, in the passes' batches (after what they found before).
      if (this.#held) this.#held.push(...drafts);
      else await this.#o.publish(drafts);
    })
      .then(() => this.#saveSoon())
      .catch((err) => this.#o.log.error("memory change not recorded", { path, error: String(err) }));
  }

  /** The watched files there are now, looking only in folders that may hold some. */
  async #scan(dir = "", unreadable: string[] = []): Promise<string[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.#o.workspace, dir), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (dir === "" || !ACCESS_DENIED.has(code)) throw err;
      // A folder it may not read stops nothing: skipped, said why; its files are not taken for deleted.
      this.#o.log.warn("memory watcher: cannot read folder, skipped", { path: dir, reason: code });
      unreadable.push(`${dir}/`);
      return [];
    }
    const found: string[] = [];
    for (const entry of entries) {
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory() && this.#globs.mayContain(rel))
        found.push(...(await this.#scan(rel, unreadable)));
      else if (entry.isFile() && this.#globs.matches(rel)) found.push(rel);
    }
    return found.sort();
  }

  /** Compares the file with what was known of it: the events a change (and its size) calls for. */
  async #compare(path: string): Promise<EventDraft[]> {
    let content: Buffer | undefined;
    try {
      content = await readRegularFile(this.#o.workspace, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (ACCESS_DENIED.has(code) || (isUnsafePath(err) && ACCESS_DENIED.has(err.reason))) {
        // One file it may not read stops nothing: skipped (what was known of it stays), said why.
        this.#o.log.warn("memory watcher: cannot read, skipped", {
          path,
          reason: code || (err as Error).message,
        });
        return [];
      }
      if (!isUnsafePath(err) && code !== "ENOENT") throw err;
      // A link (or a folder of the path that is one) is not read: as if the file were gone.
      if (isUnsafePath(err)) this.#o.log.warn("memory watcher: not followed", { path, reason: err.message });
    }
    const before = this.#known.get(path);
    const drafts: EventDraft[] = [];
    if (content === undefined) {
      if (!before) return [];
      this.#known.delete(path);
      this.#oversize.delete(path);
      drafts.push(
        this.#event("memory.changed", "info", {
          path,
          change: "deleted",
          size: 0,
          sha256: null,
          lines_added: 0,
          lines_removed: before.lines ? before.lines.length : null,
        }),
      );
    } else {
      const sha256 = createHash("sha256").update(content).digest("hex");
      const text = content.toString("utf8");
      const lines = lineHashes(text);
      this.#known.set(path, { sha256, size: content.length, lines });
      if (before?.sha256 !== sha256) {
        // Lines are only known for versions seen in this run; across a restart they are not counted.
        const diff = before && !before.lines ? undefined : diffLines(before?.lines ?? NO_LINES, lines);
        // Awaited only when kept asynchronously (the sidecar's blob store, its fsyncs off the loop).
        const keeping = this.#o.keepContent?.(sha256, content) ?? true;
        const kept = typeof keeping === "boolean" ? keeping : await keeping;
        drafts.push(
          this.#event("memory.changed", kept ? "info" : "warn", {
            path,
            change: before ? "modified" : "created",
            size: content.length,
            sha256,
            lines_added: diff?.added ?? null,
            lines_removed: diff?.removed ?? null,
            ...(kept ? {} : { content_kept: false }),
          }),
        );
        if (!kept) this.#contentDropped(path, content.length);
      }
      const over = this.#overLimit(path, content.length, text);
      if (over && this.#oversize.get(path) !== over.reason) {
        this.#oversize.set(path, over.reason);
        drafts.push(this.#event("memory.oversize", "warn", { path, ...over.attrs, reason: over.reason }));
      } else if (!over) this.#oversize.delete(path);
    }
    return drafts;
  }

  /** A version recorded without its content (the backlog is full): logged at most once a minute. */
  #contentDropped(path: string, size: number): void {
    this.#dropped++;
    if (Date.now() - this.#droppedLoggedAt < 60_000) return;
    this.#o.log.warn("memory: content not kept, the backlog waiting for the collector is full", {
      path,
      size,
      versions: this.#dropped,
    });
    this.#droppedLoggedAt = Date.now();
    this.#dropped = 0;
  }

  #overLimit(path: string, size: number, text: string) {
    if (DAILY_LOG.test(path) && size > this.#o.config.dailyMaxBytes) {
      const limit = this.#o.config.dailyMaxBytes;
      return {
        reason: `${path} is ${size} bytes, over the daily log limit of ${limit} (memory.dailyMaxBytes): run clawguard memory decay, or split the log`,
        attrs: { kind: "daily", size, limit },
      };
    }
    const limit = this.#bootstrapCap();
    if (BOOTSTRAP_FILES.includes(path) && text.length > limit) {
      return {
        reason: `${path} is ${text.length} chars, over the ${limit}-char bootstrap cap: OpenClaw cuts the rest from every prompt; shorten it or raise agents.defaults.bootstrapMaxChars`,
        attrs: { kind: "bootstrap", chars: text.length, limit },
      };
    }
    return undefined;
  }

  #event(type: string, severity: EventDraft["severity"], attrs: Record<string, unknown>): EventDraft {
    return draftEvent({ source: this.#o.source, type, severity, attrs });
  }
}

/**
 * A watched file's bytes: never through a symbolic link (any component, checked just before, and
 * the file itself opened O_NOFOLLOW), never blocking on a FIFO planted under a watched name.
 */
async function readRegularFile(root: string, rel: string): Promise<Buffer | undefined> {
  const handle = await open(
    insidePath(root, rel),
    constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
  ).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ELOOP") throw new UnsafePathError(rel, rel, "symlink", err);
    throw err;
  });
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function toRelative(root: string, path: string): string {
  return relative(root, path).split(sep).join("/");
}

const NO_LINES = new Float64Array(0);

/**
 * Each line's hash (53 bits of two 32-bit multiplicative hashes of its UTF-16 code units: FNV-1a
 * and one with murmur's multiplier), sorted: a multiset of the lines in 8 bytes each. Two different lines of a file share
 * a hash with odds of about lines² / 2^54: a changed line then counts as neither added nor removed.
 */
export function lineHashes(text: string): Float64Array {
  if (text === "") return NO_LINES;
  let count = 1;
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) count++;
  const hashes = new Float64Array(count);
  let line = 0;
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 10 : text.charCodeAt(i);
    if (c === 10) {
      hashes[line++] = (a >>> 0) * 2 ** 21 + ((b >>> 0) >>> 11);
      a = 0x811c9dc5;
      b = 0x9747b28c;
      continue;
    }
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return hashes.sort();
}

/** Lines added and removed, as multisets of sorted line hashes (exact for appends; moved lines count as neither). */
export function diffLines(before: Float64Array, after: Float64Array): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  let i = 0;
  let j = 0;
  while (i < before.length && j < after.length) {
    const x = before[i] as number;
    const y = after[j] as number;
    if (x === y) {
      i++;
      j++;
    } else if (x < y) {
      removed++;
      i++;
    } else {
      added++;
      j++;
    }
  }
  return { added: added + after.length - j, removed: removed + before.length - i };
}

/** The agent's bootstrap cap in its openclaw.json (per agent, then defaults), else OpenClaw's default. */
function openClawBootstrapCap(doc: unknown, agent: string): number {
  const agents = (
    doc as {
      agents?: {
        defaults?: { bootstrapMaxChars?: unknown };
        entries?: Record<string, { bootstrapMaxChars?: unknown }>;
      };
    } | null
  )?.agents;
  const cap = agents?.entries?.[agent]?.bootstrapMaxChars ?? agents?.defaults?.bootstrapMaxChars;
  return typeof cap === "number" && cap > 0 ? cap : OPENCLAW_BOOTSTRAP_MAX_CHARS;
}
