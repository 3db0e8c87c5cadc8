import { constants, type FSWatcher, readlinkSync, renameSync, statSync, watch } from "node:fs";
import { open, readdir, rename, stat, unlink } from "node:fs/promises";
import { join, relative } from "node:path";
import { describeError, type ErrorCode, isClawguardError } from "@clawguard/shared/errors";
import {
  draftEvent,
  type EventDraft,
  type EventSource,
  validateDraft,
} from "@clawguard/shared/events/envelope";
import { mkdirp } from "@clawguard/shared/fs-dirs";
import { ulid, ulidTime } from "@clawguard/shared/ids";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { isoTime } from "@clawguard/shared/time";
import type { EventBus } from "../../bus.ts";
import { isInside } from "../../paths.ts";
import { insidePath, UnsafePathError } from "../../workspace-path.ts";
import { RESERVED_FILE } from "./drop.ts";

export { dropInInbox } from "./drop.ts";

export interface InboxOptions {
  dir: string;
  quarantineDir: string;
  /** The workspace holding the inbox and the quarantine: no link on the way is followed. */
  workspace?: string;
  source: EventSource;
  bus: EventBus;
  /** Whether the spool already holds this id (a crash between append and unlink). */
  alreadySpooled: (id: string) => boolean;
  log: Logger;
  /** How often the inbox is read while drafts wait in it, or when it cannot be watched. */
  pollMs?: number;
  /**
   * How often a watched inbox that was empty at the last drain is read anyway (a watch lost with
   * the folder it was on, a missed notification): at rest the watcher's events do the work.
   */
  idlePollMs?: number;
  batch?: number;
}

const DRAFT_FILE = /^[0-9A-Z]{26}\.json$/;
const STALE_RESERVATION_MS = 24 * 3600 * 1000;
/** The largest draft file read: attrs are held to 64 KiB, the rest of a draft is small. */
export const MAX_DRAFT_BYTES = 128 * 1024;
/**
 * What the commands that write to the inbox report: `clawguard exec` (exec.*), `memory restore`
 * (memory.changed, the version it replaces) and `memory decay` (memory.decayed). The inbox is the
 * agent's to write, so a draft of another type (llm.request, audit.integrity, health.changed...)
 * would be the agent forging what only the sidecar observes. Its role and host are the sidecar's
 * own, whatever the draft says.
 */
const AGENT_TYPES = /^(exec\.[a-z_]+|memory\.changed|memory\.decayed)$/;

/** How long an id taken from the inbox is remembered (a replay within it gets a new id). */
const FRESH_ID_MS = 3600 * 1000;
/** How far ahead of the sidecar's clock a draft id's time may be (the agent's clock is the host's). */
const ID_SKEW_MS = 60 * 1000;
/** Most ids remembered; past it the oldest is forgotten. */
const MAX_TAKEN = 100_000;
/** The spool cannot take drafts now (full, its disk refusing writes, stopping): they wait in the inbox. */
const SPOOL_CANNOT_TAKE: readonly ErrorCode[] = ["spool.full", "spool.io", "spool.closed"];

class TooBig extends Error {}

class NotRegular extends Error {}

/**
 * How long a draft that is not (yet) valid JSON is left where it is: a writer that does not rename
 * into place (a copy, an editor, `echo > file`) is seen mid-write; the next drain reads it whole.
 */
const SETTLE_MS = 2000;

/** A draft file that is not valid JSON and was written within SETTLE_MS: read again later. */
class Unsettled extends Error {}

/**
 * A draft, parsed: opened O_NOFOLLOW|O_NONBLOCK, a regular file only. Text that is not JSON throws
 * the parser's SyntaxError, or Unsettled when the file was written within SETTLE_MS.
 */
async function readDraft(path: string): Promise<unknown> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new NotRegular();
    // Bounded before it is read: the inbox is the agent's to write, so a file can be anything.
    if (stat.size > MAX_DRAFT_BYTES)
      throw new TooBig(`${stat.size} bytes, expected at most ${MAX_DRAFT_BYTES}`);
    const text = await handle.readFile("utf8");
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw Date.now() - stat.mtimeMs < SETTLE_MS ? new Unsettled() : err;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Drains drafts that `clawguard exec` left on disk into the chain, oldest first. A file is removed
 * only after its event is in the spool; a malformed file is moved aside and reported, never retried
 * in a loop.
 */
export class InboxSource implements Component {
  readonly id = "source.inbox";
  readonly #o: InboxOptions;
  #watcher: FSWatcher | undefined;
  /**
   * The folder the watcher is on (inode and birth time: a folder made again often gets the freed
   * inode back): one made again in its place is watched again.
   */
  #watched: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  /** The last drain found no draft, nor any trouble: the next poll can wait (idlePollMs). */
  #quiet = false;
  #stopped = false;
  /** Ids taken from the inbox in the last hour, with their time. */
  readonly #taken = new Map<string, number>();
  #problem: string | undefined;

  constructor(options: InboxOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    mkdirp(this.#o.dir);
    this.kick();
  }

  /** Watches the inbox folder (again, when it is a new one), or polling alone drains it. */
  #watch(): void {
    let folder: string;
    try {
      const stats = statSync(this.#o.dir, { bigint: true });
      folder = `${stats.ino}:${stats.birthtimeNs}`;
    } catch {
      return; // made again by the next drain
    }
    if (this.#watcher && folder === this.#watched) return;
    this.#watcher?.close();
    this.#watcher = undefined;
    try {
      this.#watcher = watch(this.#o.dir, () => this.kick());
      this.#watcher.on("error", () => {}); // polling still drains
      this.#watched = folder;
    } catch {
      // Some filesystems cannot be watched; polling is enough.
    }
  }

  /** The next poll: soon while drafts wait or nothing watches, else at the idle pace. */
  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    const idle = this.#quiet && this.#watcher !== undefined;
    const ms = idle ? (this.#o.idlePollMs ?? 10_000) : (this.#o.pollMs ?? 1000);
    this.#timer = setTimeout(() => this.kick(), ms).unref();
  }

  /** Drains now (coalesced with a run in progress). Resolves when the inbox has been drained. */
  kick(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#drain().catch((err) =>
          this.#o.log.warn("inbox: drain failed, will retry", { error: describeError(err) }),
        );
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  /** Why drafts cannot be read now (a linked inbox the sidecar could not move aside), for /readyz. */
  get problem(): string | undefined {
    return this.#problem;
  }

  async #drain(): Promise<void> {
    this.#quiet = false;
    if (!(await this.#inboxIsOurs())) return;
    this.#watch();
    const all = await readdir(this.#o.dir);
    await this.#dropStaleReservations(all);
    const names = all.filter((n) => DRAFT_FILE.test(n)).sort();
    this.#quiet = names.length === 0;
    const now = Date.now();
    for (const [id, at] of this.#taken) if (at < now - FRESH_ID_MS) this.#taken.delete(id);
    const batchSize = this.#o.batch ?? 500;
    for (let i = 0; i < names.length && !this.#stopped; i += batchSize) {
      const drafts: EventDraft[] = [];
      const files: string[] = [];
      const duplicates: string[] = [];
      for (const name of names.slice(i, i + batchSize)) {
        const path = join(this.#o.dir, name);
        const draft = await this.#read(path, name);
        if (!draft) continue;
        if (this.#o.alreadySpooled(draft.id)) duplicates.push(path);
        else {
          drafts.push(this.#ownId(draft, now));
          files.push(path);
        }
      }
      if (drafts.length > 0) {
        try {
          await this.#o.bus.publish(drafts);
        } catch (err) {
          if (SPOOL_CANNOT_TAKE.some((code) => isClawguardError(err, code))) {
            this.#o.log.warn("inbox: the spool cannot take them now, drafts stay in the inbox", {
              waiting: names.length - i,
              error: describeError(err),
            });
            return;
          }
          throw err;
        }
      }
      await Promise.all([...files, ...duplicates].map((f) => unlink(f).catch(() => {})));
    }
  }

  /**
   * Whether the inbox is a folder of the workspace. A link on the way (the inbox, `.clawguard/agents`...)
   * would have the agent-side commands write their drafts elsewhere, where the sidecar never reads
   * (a linked inbox is not followed): the trail of every later command would stop without a word.
   * So the link is moved aside (`<name>.linked-<id>`), the inbox made again, and an `inbox.linked`
   * event records it with the link's target; if the link cannot be moved, /readyz says so until it is.
   */
  async #inboxIsOurs(): Promise<boolean> {
    const ws = this.#o.workspace;
    // An inbox of its own (inboxDir), outside the workspace: not the agent's folder to relink.
    if (!ws || !isInside(ws, this.#o.dir)) return true;
    try {
      insidePath(ws, relative(ws, this.#o.dir));
      this.#problem = undefined;
      return true;
    } catch (err) {
      if (!(err instanceof UnsafePathError) || err.reason !== "symlink") throw err;
      const link = join(ws, err.at);
      const target = (() => {
        try {
          return readlinkSync(link);
        } catch {
          return undefined;
        }
      })();
      const aside = `${link}.linked-${ulid()}`;
      let moved = true;
      try {
        renameSync(link, aside);
        mkdirp(this.#o.dir);
      } catch (renameErr) {
        moved = false;
        if (this.#problem === undefined)
          this.#o.log.warn("inbox: linked, and the link cannot be moved aside", {
            error: describeError(renameErr),
          });
      }
      const problem = `inbox_linked: ${err.at} is a symbolic link${target ? ` to ${target}` : ""}: drafts written through it are not read`;
      if (moved || this.#problem !== problem)
        await this.#reportLink(err.at, target, moved ? aside : undefined);
      this.#problem = moved ? undefined : problem;
      return moved; // a link made again meanwhile is the next drain's
    }
  }

  async #reportLink(at: string, target: string | undefined, aside: string | undefined): Promise<void> {
    this.#o.log.warn("inbox: a link in the way of the inbox", { at, target, moved_to: aside });
    await this.#o.bus.publish([
      draftEvent({
        source: this.#o.source,
        type: "inbox.linked",
        severity: "warn",
        attrs: {
          path: at,
          ...(target === undefined ? {} : { target: target.slice(0, 1024) }),
          moved_aside: aside !== undefined,
          ...(aside === undefined ? {} : { moved_to: relative(this.#o.workspace as string, aside) }),
        },
      }),
    ]);
  }

  /**
   * The draft with an id the collector has not seen from this inbox yet. Its own id is kept (an
   * exec's drafts are found by it, and a draft written while the sidecar was down is new to the
   * collector) unless this sidecar took the same id from the inbox before (a replay: the collector
   * holds it already and would refuse it, a gap in the chain) or it is ahead of the clock. A replay
   * of a draft shipped before this sidecar started is refused by the collector and recorded as a gap.
   */
  #ownId(draft: EventDraft, now: number): EventDraft {
    const at = ulidTime(draft.id);
    if (at <= now + ID_SKEW_MS && !this.#taken.has(draft.id)) {
      if (this.#taken.size >= MAX_TAKEN) this.#taken.delete(this.#taken.keys().next().value as string);
      this.#taken.set(draft.id, now);
      return draft;
    }
    const id = ulid(now);
    this.#o.log.info("inbox: a draft's id may have been used before: it gets a new one", {
      draft: draft.id,
      id,
    });
    return { ...draft, id };
  }

  /**
   * Room an exec set aside for its outcome and never used (its launcher killed -9 mid-run): gone after
   * a day (an exec still running then writes its outcome as a new file), recorded as `exec.abandoned`
   * so the run's `exec.started` does not stay without a word on how it ended.
   */
  async #dropStaleReservations(names: string[]): Promise<void> {
    for (const name of names) {
      if (!RESERVED_FILE.test(name)) continue;
      const path = join(this.#o.dir, name);
      const stats = await stat(path).catch(() => undefined);
      if (!stats || Date.now() - stats.mtimeMs <= STALE_RESERVATION_MS) continue;
      await unlink(path).catch(() => {});
      await this.#o.bus.publish([
        draftEvent({
          source: this.#o.source,
          type: "exec.abandoned",
          severity: "warn",
          attrs: {
            run_id: name.slice(".reserved-".length, -".tmp".length),
            started_before: isoTime(new Date(stats.mtimeMs)),
            reason: "no outcome within a day of its start: its launcher was killed or its machine stopped",
          },
        }),
      ]);
    }
  }

  async #read(path: string, name: string): Promise<EventDraft | undefined> {
    let problem: string;
    try {
      const parsed = await readDraft(path);
      const check = validateDraft(parsed, name);
      if (check.ok && `${check.value.id}.json` === name) {
        const { type, source } = check.value;
        if (source.agent !== this.#o.source.agent)
          problem = `${name}.source.agent: expected ${JSON.stringify(this.#o.source.agent)} (this sidecar's agent), got ${JSON.stringify(source.agent)}`;
        else if (!AGENT_TYPES.test(type))
          problem = `${name}.type: expected an exec.*, memory.changed or memory.decayed event (what the agent-side commands write), got ${JSON.stringify(type.slice(0, 80))}: the sidecar's own observations are not the agent's to report`;
        else return { ...check.value, source: this.#o.source };
      } else problem = check.ok ? "id does not match the file name" : check.errors.join("; ");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      // Read again by a later drain (the poll, or the watcher seeing the write end).
      if (err instanceof Unsettled) return undefined;
      // Never read through a link: its target's bytes would land in the problem (and the audit trail).
      if (err instanceof TooBig) problem = err.message;
      else
        problem =
          code === "ELOOP" || err instanceof NotRegular
            ? "not a regular file (a link, a FIFO...): not read"
            : `not valid JSON: ${(err as Error).message}`;
    }
    mkdirp(this.#o.quarantineDir);
    // The quarantine is in the workspace too: a link there would move the draft anywhere.
    const ws = this.#o.workspace;
    if (ws && isInside(ws, this.#o.quarantineDir)) insidePath(ws, relative(ws, this.#o.quarantineDir));
    const moved = join(this.#o.quarantineDir, `inbox-${name}`);
    await rename(path, moved);
    this.#o.log.warn("inbox: quarantined a malformed draft", { file: moved, problem });
    await this.#o.bus.publish([
      draftEvent({
        source: this.#o.source,
        type: "spool.quarantined",
        severity: "error",
        attrs: { where: "inbox", file: moved, problem: problem.slice(0, 500) },
      }),
    ]);
    return undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearTimeout(this.#timer);
    await this.#running;
  }
}
