import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ClawguardError } from "@clawguard/shared/errors";
import { draftEvent, type EventDraft, type EventSource } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { type FSWatcher, watch } from "chokidar";
import JSON5 from "json5";
import { Globs } from "./globs.ts";
import { BOOTSTRAP_FILES, type MemoryWatchConfig, OPENCLAW_BOOTSTRAP_MAX_CHARS } from "./watch-config.ts";

export interface MemoryWatcherOptions {
  workspace: string;
  config: MemoryWatchConfig;
  source: EventSource;
  /** Durable delivery of the events (the sidecar's bus). */
  publish(drafts: EventDraft[]): Promise<unknown>;
  log: Logger;
}

interface Known {
  sha256: string;
  size: number;
  /** Each distinct line with how often it occurs: enough to count lines added and removed. */
  lines: Map<string, number>;
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
  readonly #globs: Globs;
  readonly #bootstrapMaxChars: number;
  readonly #known = new Map<string, Known>();
  readonly #oversize = new Map<string, string>();
  /** One change at a time per file, in the order they came. */
  readonly #queues = new Map<string, Promise<void>>();
  #watcher: FSWatcher | undefined;

  constructor(options: MemoryWatcherOptions) {
    this.#o = options;
    this.#globs = new Globs(options.config.globs);
    this.#bootstrapMaxChars =
      options.config.bootstrapMaxChars ??
      openClawBootstrapCap(options.config.openclawConfig, options.source.agent);
  }

  async start(): Promise<void> {
    // The files as they are now: the baseline later changes are compared with.
    for (const path of await this.#scan()) await this.#settle(path, false);
    const root = this.#o.workspace;
    this.#watcher = watch(root, {
      ignoreInitial: true,
      atomic: true,
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
    await new Promise<void>((resolve) => this.#watcher?.once("ready", () => resolve()));
  }

  async stop(): Promise<void> {
    await this.#watcher?.close();
    this.#watcher = undefined;
    await Promise.all(this.#queues.values());
  }

  /** Why the memory makes the sidecar degraded: one reason per oversize file. */
  reasons(): string[] {
    return [...this.#oversize.values()];
  }

  #enqueue(path: string): void {
    if (!this.#globs.matches(path)) return;
    const next = (this.#queues.get(path) ?? Promise.resolve())
      .then(() => this.#settle(path, true))
      .catch((err) => this.#o.log.error("memory change not recorded", { path, error: String(err) }));
    this.#queues.set(path, next);
    void next.then(() => {
      if (this.#queues.get(path) === next) this.#queues.delete(path);
    });
  }

  /** The watched files there are now, looking only in folders that may hold some. */
  async #scan(dir = ""): Promise<string[]> {
    const entries = await readdir(join(this.#o.workspace, dir), { withFileTypes: true });
    const found: string[] = [];
    for (const entry of entries) {
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory() && this.#globs.mayContain(rel)) found.push(...(await this.#scan(rel)));
      else if (entry.isFile() && this.#globs.matches(rel)) found.push(rel);
    }
    return found.sort();
  }

  /** Compares the file with what was known of it; reports a change (`report`) and its size. */
  async #settle(path: string, report: boolean): Promise<void> {
    let content: Buffer | undefined;
    try {
      content = await readFile(join(this.#o.workspace, path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const before = this.#known.get(path);
    const drafts: EventDraft[] = [];
    if (content === undefined) {
      if (!before) return;
      this.#known.delete(path);
      this.#oversize.delete(path);
      if (report)
        drafts.push(
          this.#event("memory.changed", "info", {
            path,
            change: "deleted",
            size: 0,
            sha256: null,
            lines_added: 0,
            lines_removed: sum(before.lines),
          }),
        );
    } else {
      const sha256 = createHash("sha256").update(content).digest("hex");
      if (before?.sha256 === sha256) return;
      const text = content.toString("utf8");
      const lines = lineCounts(text);
      this.#known.set(path, { sha256, size: content.length, lines });
      if (report) {
        const { added, removed } = diffLines(before?.lines ?? new Map(), lines);
        drafts.push(
          this.#event("memory.changed", "info", {
            path,
            change: before ? "modified" : "created",
            size: content.length,
            sha256,
            lines_added: added,
            lines_removed: removed,
          }),
        );
      }
      const over = this.#overLimit(path, content.length, text);
      if (over && this.#oversize.get(path) !== over.reason) {
        this.#oversize.set(path, over.reason);
        drafts.push(this.#event("memory.oversize", "warn", { path, ...over.attrs, reason: over.reason }));
      } else if (!over) this.#oversize.delete(path);
    }
    if (drafts.length > 0) await this.#o.publish(drafts);
  }

  #overLimit(path: string, size: number, text: string) {
    if (DAILY_LOG.test(path) && size > this.#o.config.dailyMaxBytes) {
      const limit = this.#o.config.dailyMaxBytes;
      return {
        reason: `${path} is ${size} bytes, over the daily log limit of ${limit} (memory.dailyMaxBytes): run clawguard memory decay, or split the log`,
        attrs: { kind: "daily", size, limit },
      };
    }
    if (BOOTSTRAP_FILES.includes(path) && text.length > this.#bootstrapMaxChars) {
      const limit = this.#bootstrapMaxChars;
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

function toRelative(root: string, path: string): string {
  return relative(root, path).split(sep).join("/");
}

function lineCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (text === "") return counts;
  for (const line of text.split("\n")) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

function sum(counts: Map<string, number>): number {
  let n = 0;
  for (const c of counts.values()) n += c;
  return n;
}

/** Lines added and removed, as multisets (exact for appends; moved lines count as neither). */
export function diffLines(
  before: Map<string, number>,
  after: Map<string, number>,
): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const [line, n] of after) added += Math.max(0, n - (before.get(line) ?? 0));
  for (const [line, n] of before) removed += Math.max(0, n - (after.get(line) ?? 0));
  return { added, removed };
}

/** The agent's bootstrap cap from its openclaw.json (per agent, then defaults), else OpenClaw's default. */
function openClawBootstrapCap(file: string | undefined, agent: string): number {
  if (!file) return OPENCLAW_BOOTSTRAP_MAX_CHARS;
  let doc: {
    agents?: {
      defaults?: { bootstrapMaxChars?: unknown };
      entries?: Record<string, { bootstrapMaxChars?: unknown }>;
    };
  };
  try {
    doc = JSON5.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ClawguardError(
      "config.invalid",
      `memory.openclawConfig: cannot read ${file}: ${(err as Error).message}`,
    );
  }
  const cap = doc?.agents?.entries?.[agent]?.bootstrapMaxChars ?? doc?.agents?.defaults?.bootstrapMaxChars;
  return typeof cap === "number" && cap > 0 ? cap : OPENCLAW_BOOTSTRAP_MAX_CHARS;
}
