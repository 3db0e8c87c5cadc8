import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { type ChainHead, EMPTY_HEAD, type SealKey, sealEvent } from "@clawguard/shared/chain";
import { ClawguardError } from "@clawguard/shared/errors";
import { storableValue } from "@clawguard/shared/events/bounds";
import { type AuditEvent, type EventDraft, validateDraft } from "@clawguard/shared/events/envelope";
import { fsyncDir, fsyncDirAsync } from "@clawguard/shared/fs-atomic";
import { mkdirp } from "@clawguard/shared/fs-dirs";
import { lockDirectory } from "@clawguard/shared/fs-lock";
import { ulid } from "@clawguard/shared/ids";
import type { Logger } from "@clawguard/shared/log";
import { isoTime } from "@clawguard/shared/time";
import { AckRecord } from "./ack-record.ts";
import { type CorruptRange, encodeFrame, type ScannedFrame, scanFrames } from "./frame.ts";

export type FsyncPolicy = "always" | "interval" | "never";

export interface SpoolOptions {
  dir: string;
  /** Total bytes of all segments; an append that would pass it fails with `spool.full` (retryable). */
  maxBytes: number;
  segmentBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  /** Seals every event as it is written (see SealKey); without it events carry no seal. */
  sealKey?: SealKey | undefined;
  log: Logger;
}

/** An event as the shipper reads it back: the stored JSON, plus what it needs to acknowledge it. */
export interface SpooledEvent {
  seq: number;
  id: string;
  hash: string;
  json: string;
}

/** Something recovery found and set aside; the sidecar turns each into a `spool.quarantined` event. */
export interface QuarantineReport {
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
  file: string;
}

interface Segment {
  n: number;
  path: string;
  size: number;
  firstSeq: number;
  lastSeq: number;
}

interface Pending {
  drafts: EventDraft[];
  resolve: (events: AuditEvent[]) => void;
  reject: (err: Error) => void;
}

const SEGMENT_NAME = /^seg-(\d{20})\.log$/;
/** Room kept for the header of the segment a roll would create, so a roll never passes maxBytes. */
const SEGMENT_HEADER_RESERVE = 256;
/** A read window is the batch's byte limit plus this much (the frame crossing the limit fits). */
const READ_SLACK = 256 * 1024;
/** Spool directories open in this process: the LOCK file alone cannot tell two of them apart. */
const openDirs = new Set<string>();
/**
 * Events sealed in one turn of the event loop before the next: sealing one (checked, hashed in its
 * canonical form, framed) takes 20-60 us, so a batch of 50 LLM calls' events held the loop 1.5-4 ms
 * every 50 ms under 1000 calls/s, in every call's path; in slices it holds it ~0.3 ms at a time.
 */
const SEAL_SLICE = 8;
const segmentName = (n: number) => `seg-${String(n).padStart(20, "0")}.log`;

type SpoolRecord =
  | { kind: "header"; after_seq: number; after_hash: string }
  | { kind: "event"; id: string; seq: number; hash: string };

/**
 * The draft with every string made storable (a NUL or lone surrogate becomes U+FFFD), checked
 * against the collector's own schema and bounds (validateDraft). One the collector would refuse
 * (a memory file whose name has a line break, attrs over the bounds) never takes a seq as it is:
 * it becomes a `spool.refused` event saying what was wrong (its id, type and the problem), in the
 * same place of the request; throws `input.invalid` when not even that can be recorded (a draft
 * whose source is not one).
 */
function checkedDraft(draft: EventDraft): EventDraft {
  // Checked as it is first: nearly every draft is storable already, and making it so is a walk of
  // its own (storableValue returns the same object when nothing needed it).
  const first = validateDraft(draft);
  if (first.ok) return first.value;
  const check = validateDraft(storableValue(draft));
  if (check.ok) return check.value;
  const problem = check.errors.join("; ");
  const refusal = validateDraft(
    storableValue({
      id: ulid(),
      time: isoTime(new Date()),
      source: draft.source,
      type: "spool.refused",
      severity: "error",
      attrs: {
        draft_id: String(draft.id).slice(0, 64),
        draft_type: String(draft.type).slice(0, 128),
        problem: problem.slice(0, 1000),
      },
    }),
  );
  if (!refusal.ok)
    throw new ClawguardError(
      "input.invalid",
      `the collector would refuse this event draft: ${problem.slice(0, 500)}`,
    );
  return refusal.value;
}

/** The disk refused a write (ENOSPC, EIO...): `spool.io`, retryable, naming the errno. */
function ioError(what: string, err: unknown): ClawguardError {
  const errno = (err as NodeJS.ErrnoException).code ?? "error";
  return new ClawguardError("spool.io", `${what} (${errno}): ${(err as Error).message}`, {
    retryable: true,
    cause: err,
    details: { errno },
  });
}

/** A frame's payload as a spool record (a segment header or an event), or undefined when it is neither. */
function parseRecord(payload: Buffer): SpoolRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  if (r.id === undefined) {
    const { after_seq, after_hash } = r;
    return Number.isSafeInteger(after_seq) && (after_seq as number) >= 0 && typeof after_hash === "string"
      ? { kind: "header", after_seq: after_seq as number, after_hash }
      : undefined;
  }
  const { id, seq, hash } = r;
  return typeof id === "string" &&
    Number.isSafeInteger(seq) &&
    (seq as number) >= 1 &&
    typeof hash === "string"
    ? { kind: "event", id, seq: seq as number, hash }
    : undefined;
}

/**
 * The sidecar's durable event log, and the owner of its hash chain. Drafts are sealed (seq,
 * prev_hash, hash) and written in one group-committed write; a segment is deleted only when every
 * event in it is acknowledged. Recovery after kill -9 or disk-full truncates torn tails and
 * quarantines corrupt records, so a bad segment never stops the sidecar from starting.
 */
export class Spool {
  readonly #o: SpoolOptions;
  readonly #unlock: () => void;
  readonly #segments: Segment[] = [];
  readonly #pending: Pending[] = [];
  #file: FileHandle | undefined;
  #head: ChainHead = EMPTY_HEAD;
  #acked: ChainHead = EMPTY_HEAD;
  /** The acknowledgement on disk: segments are deleted up to it (#acked may be ahead when a write failed). */
  #durable: ChainHead = EMPTY_HEAD;
  #ackRecord: AckRecord | undefined;
  #ackFailing = false;
  /** The acknowledgement being written, if any (they are written one at a time). */
  #acking: Promise<void> = Promise.resolve();
  #writing = false;
  /** An acknowledgement made the active segment reclaimable (see #reclaimable): roll it away. */
  #reclaimDue = false;
  #dirty = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #recentIds = new Set<string>();
  #olderIds = new Set<string>();
  #readCursor: { seg: number; offset: number; seq: number } | undefined;
  #startCursor: { seg: number; offset: number; seq: number } | undefined;
  readonly quarantined: QuarantineReport[] = [];
  readonly #listeners = new Set<() => void>();

  private constructor(options: SpoolOptions, unlock: () => void) {
    this.#o = options;
    this.#unlock = unlock;
  }

  static async open(options: SpoolOptions): Promise<Spool> {
    mkdirp(options.dir);
    const key = resolve(options.dir);
    if (openDirs.has(key))
      throw new ClawguardError("spool.locked", `spool ${options.dir} is already open in this process`);
    openDirs.add(key);
    let release: () => void;
    try {
      release = await lockDirectory(options.dir, "spool");
    } catch (err) {
      openDirs.delete(key);
      throw err;
    }
    const spool = new Spool(options, () => {
      openDirs.delete(key);
      release();
    });
    try {
      spool.#recover();
      await spool.#openActive();
      spool.#openAckRecord();
    } catch (err) {
      spool.#unlock();
      throw err;
    }
    if (options.fsync === "interval") {
      spool.#timer = setInterval(() => void spool.#sync(), options.fsyncIntervalMs);
      spool.#timer.unref();
    }
    return spool;
  }

  get head(): ChainHead {
    return this.#head;
  }

  get acked(): ChainHead {
    return this.#acked;
  }

  get maxBytes(): number {
    return this.#o.maxBytes;
  }

  get bytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** Events written but not yet acknowledged by the collector. */
  get backlog(): number {
    return this.#head.seq - this.#acked.seq;
  }

  /** Whether an event with this id was appended recently (the inbox's crash-window de-duplication). */
  has(id: string): boolean {
    return this.#recentIds.has(id) || this.#olderIds.has(id);
  }

  /** Called after every successful append (the shipper wakes on it). */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Seals and durably appends drafts (per the fsync policy), in order. */
  append(drafts: EventDraft[]): Promise<AuditEvent[]> {
    if (this.#closed)
      return Promise.reject(
        new ClawguardError("spool.closed", "spool is closed: the sidecar is stopping", { retryable: true }),
      );
    return new Promise((resolve, reject) => {
      this.#pending.push({ drafts, resolve, reject });
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#pending.length > 0 || this.#reclaimDue) {
        if (this.#reclaimDue) {
          this.#reclaimDue = false;
          await this.#reclaim();
          continue;
        }
        const batch = this.#pending.splice(0, this.#pending.length);
        try {
          await this.#writeBatch(batch);
        } catch (err) {
          // Never leave a caller waiting or a rejection unhandled (settled requests ignore this).
          for (const request of batch) request.reject(err as Error);
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  /**
   * One request's drafts sealed after `head` and framed, SEAL_SLICE a turn of the event loop
   * (`turn` counts across the batch's requests); throws when a draft cannot be stored.
   */
  async #seal(
    drafts: EventDraft[],
    head: ChainHead,
    turn: { sealed: number },
  ): Promise<{ events: AuditEvent[]; frames: Buffer[]; head: ChainHead }> {
    const events: AuditEvent[] = [];
    const frames: Buffer[] = [];
    for (const draft of drafts) {
      if (++turn.sealed > SEAL_SLICE) {
        turn.sealed = 1;
        await nextTurn();
      }
      const event = sealEvent(checkedDraft(draft), head, this.#o.sealKey);
      head = { seq: event.seq, hash: event.hash };
      events.push(event);
      frames.push(encodeFrame(JSON.stringify(event)));
    }
    return { events, frames, head };
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    // A spool that was left full (everything acknowledged after a restart): free it before refusing.
    await this.#reclaim();
    let head = this.#head;
    const frames: Buffer[] = [];
    const sealed: AuditEvent[][] = [];
    const accepted: Pending[] = [];
    let size = 0;
    const budget = this.#o.maxBytes - this.bytes;
    const turn = { sealed: 0 };
    for (const request of batch) {
      let events: AuditEvent[];
      let requestFrames: Buffer[];
      let requestHead: ChainHead;
      try {
        ({ events, frames: requestFrames, head: requestHead } = await this.#seal(request.drafts, head, turn));
      } catch (err) {
        // A draft the collector would refuse, or with no JSON form (a BigInt, a cycle): refuse this
        // request alone, before any of it takes a seq (a seq the collector never stores is a gap).
        request.reject(
          err instanceof ClawguardError
            ? err
            : new ClawguardError(
                "input.invalid",
                `cannot serialise an event draft: ${(err as Error).message}`,
                {
                  cause: err,
                },
              ),
        );
        continue;
      }
      const requestSize = requestFrames.reduce((sum, f) => sum + f.length, 0);
      const rolls = this.#active().size + size + requestSize > this.#o.segmentBytes;
      if (size + requestSize + (rolls ? SEGMENT_HEADER_RESERVE : 0) > budget) {
        request.reject(
          new ClawguardError(
            "spool.full",
            `spool is full: ${this.bytes} of ${this.#o.maxBytes} bytes used, waiting for the collector to acknowledge`,
            { retryable: true },
          ),
        );
        continue;
      }
      size += requestSize;
      head = requestHead;
      frames.push(...requestFrames);
      sealed.push(events);
      accepted.push(request);
    }
    if (accepted.length === 0) return;
    try {
      const active = this.#active();
      if (active.size + size > this.#o.segmentBytes && active.lastSeq > 0) await this.#roll();
      await this.#write(Buffer.concat(frames, size));
    } catch (err) {
      const failure = err instanceof ClawguardError ? err : ioError("spool segment roll failed", err);
      for (const request of accepted) request.reject(failure);
      return;
    }
    const active = this.#active();
    for (const events of sealed) {
      for (const event of events) this.#recentIds.add(event.id);
    }
    const first = sealed[0]?.[0];
    if (first && active.firstSeq === 0) active.firstSeq = first.seq;
    active.lastSeq = head.seq;
    this.#head = head;
    accepted.forEach((request, i) => {
      request.resolve(sealed[i] as AuditEvent[]);
    });
    for (const listener of this.#listeners) listener();
  }

  async #write(data: Buffer): Promise<void> {
    const active = this.#active();
    const file = this.#file as FileHandle;
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await file.write(
          data,
          written,
          data.length - written,
          active.size + written,
        );
        written += bytesWritten;
      }
      if (this.#o.fsync === "always") await file.datasync();
      else this.#dirty = true;
    } catch (err) {
      // Disk full or I/O error: cut back to the last whole record so the segment stays readable.
      await file.truncate(active.size).catch(() => {});
      throw ioError("spool write failed", err);
    }
    active.size += data.length;
  }

  async #sync(): Promise<void> {
    if (!this.#dirty || !this.#file) return;
    this.#dirty = false;
    await this.#file
      .datasync()
      .catch((err) => this.#o.log.error("spool fsync failed", { error: String(err) }));
  }

  #active(): Segment {
    return this.#segments[this.#segments.length - 1] as Segment;
  }

  async #roll(): Promise<void> {
    const old = this.#file as FileHandle;
    await old.datasync();
    // The new segment first: when it cannot be made (disk full), the active one stays open and usable.
    // Made in libuv's pool (its fsyncs took 0.4 ms, at times 15, on the event loop every 8 MiB of events).
    const n = this.#active().n + 1;
    const path = join(this.#o.dir, segmentName(n));
    const header = this.#segmentHeader(n);
    const file = await open(path, "wx+", 0o600);
    try {
      await file.write(header, 0, header.length, 0);
      await file.datasync();
      await fsyncDirAsync(this.#o.dir);
    } catch (err) {
      await file.close().catch(() => {});
      await rm(path, { force: true });
      throw err;
    }
    this.#segments.push({ n, path, size: header.length, firstSeq: 0, lastSeq: 0 });
    this.#file = file;
    await old.close().catch(() => {});
    this.#olderIds = this.#recentIds;
    this.#recentIds = new Set();
  }

  /** A segment's header frame: the chain head the segment follows. */
  #segmentHeader(n: number): Buffer {
    return encodeFrame(
      JSON.stringify({ segment: n, after_seq: this.#head.seq, after_hash: this.#head.hash }),
    );
  }

  /** Creates segment `n` holding only its header (at open); nothing is left if that fails. */
  #createSegment(n: number): Segment {
    const path = join(this.#o.dir, segmentName(n));
    const header = this.#segmentHeader(n);
    const fd = openSync(path, "wx", 0o600);
    try {
      try {
        writeFileSync(fd, header);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncDir(this.#o.dir);
    } catch (err) {
      rmSync(path, { force: true });
      throw err;
    }
    return { n, path, size: header.length, firstSeq: 0, lastSeq: 0 };
  }

  async #openActive(): Promise<void> {
    if (this.#segments.length === 0) this.#segments.push(this.#createSegment(1));
    this.#file = await open(this.#active().path, "r+");
  }

  #recover(): void {
    // No acknowledgement yet (or an unreadable one): everything still in the spool is re-sent, and
    // the collector is idempotent on id.
    const ack = AckRecord.read(this.#o.dir);
    if (ack) this.#acked = ack;
    this.#durable = this.#acked;
    this.#head = this.#acked;
    const names = readdirSync(this.#o.dir)
      .filter((name) => SEGMENT_NAME.test(name))
      .sort();
    for (const name of names) {
      const n = Number(SEGMENT_NAME.exec(name)?.[1]);
      const path = join(this.#o.dir, name);
      const segment: Segment = { n, path, size: 0, firstSeq: 0, lastSeq: 0 };
      const buf = readFileSync(path);
      const scan = scanFrames(buf);
      // A frame can pass its checksum and still not be a record (written by something else):
      // it is set aside like any corrupt stretch rather than stopping the start.
      const frames: ScannedFrame[] = [];
      const corrupt = [...scan.corrupt];
      for (const frame of scan.frames) {
        const record = parseRecord(frame.payload);
        if (record === undefined) {
          corrupt.push({ offset: frame.offset, length: frame.length, reason: "not a spool record" });
          continue;
        }
        frames.push(frame);
        if (record.kind === "header") {
          if (record.after_seq >= this.#head.seq)
            this.#head = { seq: record.after_seq, hash: record.after_hash };
          continue;
        }
        if (segment.firstSeq === 0) segment.firstSeq = record.seq;
        segment.lastSeq = record.seq;
        if (record.seq > this.#head.seq) this.#head = { seq: record.seq, hash: record.hash };
        this.#recentIds.add(record.id);
      }
      if (corrupt.length > 0) {
        corrupt.sort((a, b) => a.offset - b.offset);
        this.#quarantine(name, buf, frames, corrupt);
      }
      segment.size = corrupt.length > 0 ? frames.reduce((sum, f) => sum + f.length, 0) : buf.length;
      this.#segments.push(segment);
    }
    // Drop segments that were fully acknowledged but not yet deleted when the process died.
    this.#deleteAcked();
    if (this.#segments.length === 0)
      this.#segments.push(
        this.#createSegment(
          (names.length > 0 ? Number(SEGMENT_NAME.exec(names.at(-1) as string)?.[1]) : 0) + 1,
        ),
      );
  }

  #quarantine(name: string, buf: Buffer, frames: ScannedFrame[], corrupt: CorruptRange[]): void {
    const dir = join(this.#o.dir, "quarantine");
    mkdirp(dir);
    for (const range of corrupt) {
      const file = join(dir, `${name}.${range.offset}.bin`);
      writeFileSync(file, buf.subarray(range.offset, range.offset + range.length), { mode: 0o600 });
      this.quarantined.push({
        segment: name,
        offset: range.offset,
        bytes: range.length,
        reason: range.reason,
        file,
      });
      this.#o.log.warn("spool: quarantined a corrupt stretch", {
        segment: name,
        offset: range.offset,
        bytes: range.length,
        reason: range.reason,
        file,
      });
    }
    // Rewrite the segment with only its valid records (the bad bytes are kept in quarantine/).
    const path = join(this.#o.dir, name);
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, Buffer.concat(frames.map((f) => buf.subarray(f.offset, f.offset + f.length))), {
      mode: 0o600,
    });
    const fd = openSync(tmp, "r");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    fsyncDir(this.#o.dir);
  }

  /**
   * Reads up to `maxEvents` events after `afterSeq`, only from what has been fully written.
   */
  async read(afterSeq: number, maxEvents: number, maxBytes: number): Promise<SpooledEvent[]> {
    const out: SpooledEvent[] = [];
    let bytes = 0;
    // A batch is a run of consecutive events: once it ends inside a segment (full, or nothing whole
    // to read), no later segment may add to it, or the rest of this one would be skipped and then
    // acknowledged with the batch.
    let ended = false;
    for (const segment of this.#segments) {
      if (ended || out.length >= maxEvents || bytes >= maxBytes) break;
      if (segment.lastSeq <= afterSeq) continue;
      // Where to start: right after the last event handed out, or where the events after
      // `afterSeq` begin (a retry after a failed delivery reads the same batch again).
      const cursor = [this.#readCursor, this.#startCursor].find(
        (c) => c?.seg === segment.n && c.seq === afterSeq,
      );
      let offset = cursor?.offset ?? 0;
      const handle = await open(segment.path, "r");
      try {
        // Window by window, so a batch never reads (and checks) a whole large segment.
        while (offset < segment.size && out.length < maxEvents && bytes < maxBytes) {
          const length = Math.min(segment.size - offset, Math.max(maxBytes - bytes, 0) + READ_SLACK);
          const buf = Buffer.allocUnsafe(length);
          await handle.read(buf, 0, length, offset);
          let consumed = 0;
          let full = false;
          for (const frame of scanFrames(buf).frames) {
            consumed = frame.offset + frame.length;
            const record = parseRecord(frame.payload);
            if (record?.kind !== "event" || record.seq <= afterSeq) continue;
            if (out.length === 0)
              this.#startCursor = { seg: segment.n, offset: offset + frame.offset, seq: afterSeq };
            const json = frame.payload.toString("utf8");
            if (out.length >= maxEvents || (bytes + json.length > maxBytes && out.length > 0)) {
              full = true;
              break;
            }
            out.push({ seq: record.seq, id: record.id, hash: record.hash, json });
            bytes += json.length;
            this.#readCursor = {
              seg: segment.n,
              offset: offset + frame.offset + frame.length,
              seq: record.seq,
            };
          }
          // Nothing whole in the window (damage is recovery's business): stop here.
          if (full || consumed === 0) {
            ended = true;
            break;
          }
          offset += consumed;
        }
      } finally {
        await handle.close();
      }
    }
    return out;
  }

  /**
   * The acknowledgement record, allocated once (on a full disk it may not be: then it is tried again
   * at the next acknowledgement, which is kept in memory until then).
   */
  #openAckRecord(): boolean {
    if (this.#ackRecord) return true;
    try {
      this.#ackRecord = AckRecord.open(this.#o.dir, this.#acked);
      this.#durable = this.#acked;
      return true;
    } catch (err) {
      this.#ackFailed(err);
      return false;
    }
  }

  #ackFailed(err: unknown): void {
    if (!this.#ackFailing)
      this.#o.log.warn("spool: cannot record the acknowledgement yet (kept in memory, retried at the next)", {
        error: String(err),
      });
    this.#ackFailing = true;
  }

  /**
   * Records that the collector acknowledged everything up to `head`; frees whole segments. Never
   * rejects: the acknowledgement is overwritten in place (no new space). If even that fails, it is
   * kept in memory (nothing is sent again) and written with the next one; segments wait for it.
   * `acked` moves at once; the promise resolves once the record is written (or kept in memory).
   */
  ack(head: ChainHead): Promise<void> {
    if (head.seq <= this.#acked.seq) return this.#acking;
    this.#acked = head;
    this.#acking = this.#acking.then(() => this.#recordAck());
    return this.#acking;
  }

  /**
   * Writes the newest acknowledgement (one write for those that came while the last was written),
   * then frees what it lets go.
   */
  async #recordAck(): Promise<void> {
    const head = this.#acked;
    if (head.seq <= this.#durable.seq || !this.#openAckRecord()) return;
    try {
      await this.#ackRecord?.write(head);
    } catch (err) {
      this.#ackFailed(err);
      return;
    }
    if (this.#ackFailing) this.#o.log.info("spool: acknowledgement recorded again", { seq: head.seq });
    this.#ackFailing = false;
    this.#durable = head;
    this.#deleteAcked();
    if (this.#reclaimable()) {
      this.#reclaimDue = true;
      void this.#drain();
    }
  }

  /**
   * The active segment, once every event in it is acknowledged on disk, while the spool is more than
   * half full: only whole segments are freed and the active one never is (its header carries the
   * chain head), so without this a spool could stay "full" with nothing left to ship.
   */
  #reclaimable(): boolean {
    const active = this.#active();
    return active.lastSeq > 0 && active.lastSeq <= this.#durable.seq && this.bytes > this.#o.maxBytes / 2;
  }

  /** Rolls to a new segment (header only) and deletes the acknowledged one; on a full disk, later. */
  async #reclaim(): Promise<void> {
    if (this.#closed || !this.#reclaimable()) return;
    try {
      await this.#roll();
    } catch (err) {
      this.#o.log.warn("spool: cannot roll away the acknowledged segment yet", { error: String(err) });
      return;
    }
    this.#deleteAcked();
  }

  #deleteAcked(): void {
    // Never the active (last) segment: its header carries the chain head across restarts.
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0] as Segment;
      if (oldest.lastSeq > this.#durable.seq) break;
      rmSync(oldest.path, { force: true });
      this.#segments.shift();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    while (this.#writing || this.#pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.#file?.datasync().catch(() => {});
    await this.#file?.close();
    this.#file = undefined;
    await this.#acking;
    this.#ackRecord?.close();
    this.#ackRecord = undefined;
    this.#unlock();
  }
}
