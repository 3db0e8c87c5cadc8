import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { draftEvent, type EventDraft, type EventSource } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { Periodic } from "@clawguard/shared/periodic";

export interface SpillRetentionOptions {
  dir: string;
  maxBytes: number;
  retentionMs: number;
  sweepIntervalMs: number;
  source: EventSource;
  publish(drafts: EventDraft[]): Promise<unknown>;
  log: Logger;
}

/** A spill written to this recently may still be growing (its command runs): never taken for the cap. */
export const ACTIVE_MS = 10_000;
/** At most this many ids are listed in one `spill.expired` event (the count and bytes are whole). */
const MAX_IDS = 100;
const SPILL_FILE = /^([0-9A-HJKMNP-TV-Z]{26})\.(out|json)$/;

interface SpillEntry {
  id: string;
  bytes: number;
  mtimeMs: number;
}

/** The spills in `dir`, oldest first (ULID names sort by creation time); data and meta counted together. */
function listSpills(dir: string): SpillEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const byId = new Map<string, SpillEntry>();
  for (const name of names) {
    const match = SPILL_FILE.exec(name);
    if (!match) continue;
    const id = match[1] as string;
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(join(dir, name));
    } catch {
      continue; // gone meanwhile
    }
    const entry = byId.get(id) ?? { id, bytes: 0, mtimeMs: 0 };
    entry.bytes += stats.size;
    entry.mtimeMs = Math.max(entry.mtimeMs, stats.mtimeMs);
    byId.set(id, entry);
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Which spills go: older than the retention, then the oldest while the rest is over the cap. */
export function spillsToExpire(
  spills: readonly SpillEntry[],
  limits: { maxBytes: number; retentionMs: number },
  now: number,
): { entry: SpillEntry; reason: "age" | "cap" }[] {
  const out: { entry: SpillEntry; reason: "age" | "cap" }[] = [];
  let total = 0;
  const kept: SpillEntry[] = [];
  for (const entry of spills) {
    if (now - entry.mtimeMs > limits.retentionMs) out.push({ entry, reason: "age" });
    else {
      kept.push(entry);
      total += entry.bytes;
    }
  }
  for (const entry of kept) {
    if (total <= limits.maxBytes) break;
    if (now - entry.mtimeMs < ACTIVE_MS) continue;
    out.push({ entry, reason: "cap" });
    total -= entry.bytes;
  }
  return out;
}

/**
 * The spill store's retention (exec output and the context guard's tool outputs share it): at the
 * sidecar's start and every sweepIntervalMs, spills older than retentionMs go, then the oldest
 * while the store is over maxBytes. Each sweep that deleted any is one `spill.expired` event (ids,
 * bytes, why); one that could not be published is sent with the next. Deleting needs no space: it
 * works on a full disk, and is what frees it.
 */
export class SpillRetention implements Component {
  readonly id = "source.spill-retention";
  readonly #o: SpillRetentionOptions;
  readonly #periodic: Periodic;
  #unreported: { id: string; bytes: number; reason: "age" | "cap" }[] = [];
  #sweeping: Promise<void> = Promise.resolve();

  constructor(options: SpillRetentionOptions) {
    this.#o = options;
    this.#periodic = new Periodic({
      id: this.id,
      name: "spill retention",
      run: () => this.sweep(),
      everyMs: options.sweepIntervalMs,
      log: options.log,
    });
  }

  async start(): Promise<void> {
    void this.#periodic.runOnce();
    await this.#periodic.start();
  }

  async stop(): Promise<void> {
    await this.#periodic.stop();
    await this.#sweeping.catch(() => {});
  }

  /** One sweep (one at a time). */
  sweep(now = Date.now()): Promise<void> {
    const round = this.#sweeping.catch(() => {}).then(() => this.#sweep(now));
    this.#sweeping = round;
    return round;
  }

  async #sweep(now: number): Promise<void> {
    for (const { entry, reason } of spillsToExpire(listSpills(this.#o.dir), this.#o, now)) {
      rmSync(join(this.#o.dir, `${entry.id}.out`), { force: true });
      rmSync(join(this.#o.dir, `${entry.id}.json`), { force: true });
      this.#unreported.push({ id: entry.id, bytes: entry.bytes, reason });
    }
    if (this.#unreported.length === 0) return;
    const gone = this.#unreported;
    const bytes = gone.reduce((sum, g) => sum + g.bytes, 0);
    const draft = draftEvent({
      source: this.#o.source,
      type: "spill.expired",
      severity: "info",
      attrs: {
        count: gone.length,
        bytes,
        by_age: gone.filter((g) => g.reason === "age").length,
        by_cap: gone.filter((g) => g.reason === "cap").length,
        ids: gone.slice(0, MAX_IDS).map((g) => g.id),
        max_bytes: this.#o.maxBytes,
        retention_ms: this.#o.retentionMs,
      },
    });
    this.#unreported = [];
    try {
      await this.#o.publish([draft]);
      this.#o.log.info("spills expired", { count: gone.length, bytes });
    } catch (err) {
      this.#unreported = [...gone, ...this.#unreported];
      throw err;
    }
  }
}
