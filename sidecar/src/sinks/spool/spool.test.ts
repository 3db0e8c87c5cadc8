import { type ChildProcess, spawn } from "node:child_process";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ChainHead, EMPTY_HEAD, GENESIS_HASH, hashEvent } from "@clawguard/shared/chain";
import { type ClawguardError, isClawguardError } from "@clawguard/shared/errors";
import {
  type AuditEvent,
  draftEvent,
  type EventDraft,
  validateEvent,
} from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ACK_FILE, AckRecord } from "./ack-record.ts";
import { encodeFrame, FRAME_HEADER, scanFrames } from "./frame.ts";
import { Spool, type SpoolOptions } from "./spool.ts";

const source = { agent: "main", role: "agent", host: "test-host" };
const draft = (i: number, pad = 0) =>
  draftEvent({ source, type: "test.event", attrs: { i, pad: "x".repeat(pad) } });
const drafts = (from: number, n: number, pad = 0) =>
  Array.from({ length: n }, (_, k) => draft(from + k, pad));

let tmp: ReturnType<typeof tempDir>;
let dir: string;
const open_: Spool[] = [];

beforeEach(() => {
  tmp = tempDir("clawguard-spool-");
  dir = join(tmp.path, "spool");
});

afterEach(async () => {
  for (const spool of open_.splice(0)) await spool.close();
  vi.restoreAllMocks();
  tmp.cleanup();
});

async function openSpool(options: Partial<SpoolOptions> = {}): Promise<Spool> {
  const spool = await Spool.open({
    dir,
    maxBytes: 64 * 1024 * 1024,
    segmentBytes: 64 * 1024,
    fsync: "always",
    fsyncIntervalMs: 10,
    log: silentLogger,
    ...options,
  });
  open_.push(spool);
  return spool;
}

async function closeSpool(spool: Spool): Promise<void> {
  await spool.close();
  open_.splice(open_.indexOf(spool), 1);
}

async function readAll(spool: Spool, afterSeq = 0): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let after = afterSeq;
  for (;;) {
    const page = await spool.read(after, 37, 1 << 30);
    if (page.length === 0) return out;
    for (const e of page) {
      const event = JSON.parse(e.json) as AuditEvent;
      expect(e.seq).toBe(event.seq);
      expect(e.id).toBe(event.id);
      expect(e.hash).toBe(event.hash);
      out.push(event);
    }
    after = page[page.length - 1]?.seq as number;
  }
}

/** Every event valid, seq gap-free from `from`, each linked to the one before and hashed right. */
function expectChain(events: AuditEvent[], from: ChainHead = EMPTY_HEAD): void {
  let head = from;
  for (const event of events) {
    expect(validateEvent(event).ok).toBe(true);
    expect(event.seq).toBe(head.seq + 1);
    expect(event.prev_hash).toBe(head.hash);
    expect(hashEvent(event)).toBe(event.hash);
    head = { seq: event.seq, hash: event.hash };
  }
}

const segments = () =>
  readdirSync(dir)
    .filter((n) => /^seg-\d{20}\.log$/.test(n))
    .sort();
const lastSegment = () => join(dir, segments().at(-1) as string);

describe("Spool append and read", () => {
  it("gives no seq to a draft the collector would refuse: a spool.refused event stands in its place", async () => {
    const spool = await openSpool();
    await spool.append(drafts(1, 1));
    const version = draftEvent({
      source,
      type: "memory.changed",
      attrs: { path: "MEMORY.md", change: "gone" },
    });
    const [, refused] = await spool.append([draft(2), version, draft(3)]);
    expect(refused).toMatchObject({ seq: 3, type: "spool.refused", severity: "error" });
    expect(refused?.attrs).toMatchObject({ draft_id: version.id, draft_type: "memory.changed" });
    expect(String(refused?.attrs.problem)).toContain(
      "event.attrs.change: expected one of created|modified|deleted",
    );
    // Not even a refusal can be recorded for a draft whose source is not one: that request alone fails.
    const sourceless = { ...draft(4), source: { agent: "" } } as unknown as EventDraft;
    const failed = spool.append([draft(4), sourceless]).catch((e: unknown) => e);
    const next = spool.append(drafts(5, 1));
    expect(isClawguardError(await failed, "input.invalid")).toBe(true);
    await next;
    const all = await readAll(spool);
    expect(all.map((e) => [e.seq, e.type, e.attrs.i])).toEqual([
      [1, "test.event", 1],
      [2, "test.event", 2],
      [3, "spool.refused", undefined],
      [4, "test.event", 3],
      [5, "test.event", 5],
    ]);
    for (const event of all) expect(validateEvent(event).ok).toBe(true);
  });

  it("seals drafts into a gap-free chain and reads them back in order", async () => {
    const spool = await openSpool();
    const first = await spool.append(drafts(1, 3));
    const second = await spool.append(drafts(4, 2));
    expect(first.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(second.map((e) => e.seq)).toEqual([4, 5]);
    expect(first[0]?.prev_hash).toBe(GENESIS_HASH);
    expectChain([...first, ...second]);
    expect(spool.head).toEqual({ seq: 5, hash: second[1]?.hash });
    expect(spool.backlog).toBe(5);
    const back = await readAll(spool);
    expect(back).toEqual([...first, ...second]);
    expect(back.map((e) => (e.attrs as { i: number }).i)).toEqual([1, 2, 3, 4, 5]);
  });

  it("group-commits concurrent appends: each request gets a contiguous run, in call order", async () => {
    const spool = await openSpool();
    const requests = Array.from({ length: 40 }, (_, r) => spool.append(drafts(r * 3, 3)));
    const results = await Promise.all(requests);
    results.forEach((events, r) => {
      expect(events.map((e) => e.seq)).toEqual([r * 3 + 1, r * 3 + 2, r * 3 + 3]);
      expect(events.map((e) => (e.attrs as { i: number }).i)).toEqual([r * 3, r * 3 + 1, r * 3 + 2]);
    });
    const all = await readAll(spool);
    expect(all).toEqual(results.flat());
    expectChain(all);
  });

  it("seals a big batch in slices: the event loop turns between them, the chain stays whole", async () => {
    const spool = await openSpool({ fsync: "never" });
    let turns = 0;
    const tick = () => {
      turns++;
      if (turns < 1000) setImmediate(tick);
    };
    setImmediate(tick);
    const events = await spool.append(drafts(0, 400));
    const during = turns;
    turns = 1000;
    // 400 drafts, 8 a turn: the loop turned ~50 times while they were sealed (once without slices).
    expect(during).toBeGreaterThanOrEqual(40);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    expectChain(await readAll(spool));
  });

  it("keeps the drafts' content and ids, and remembers the ids", async () => {
    const spool = await openSpool();
    const d = draft(7);
    const [event] = await spool.append([d]);
    expect(event).toMatchObject({ id: d.id, time: d.time, source, type: "test.event", attrs: d.attrs });
    expect(spool.has(d.id)).toBe(true);
    expect(spool.has(draft(8).id)).toBe(false);
  });

  it("reads at most maxEvents and about maxBytes, but always at least one event", async () => {
    const spool = await openSpool();
    const events = await spool.append(drafts(1, 10, 100));
    expect((await spool.read(0, 4, 1 << 20)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect((await spool.read(4, 4, 1 << 20)).map((e) => e.seq)).toEqual([5, 6, 7, 8]);
    expect((await spool.read(8, 4, 1 << 20)).map((e) => e.seq)).toEqual([9, 10]);
    expect(await spool.read(10, 4, 1 << 20)).toEqual([]);
    const one = (events[0] as AuditEvent) && JSON.stringify(events[0]).length;
    expect((await spool.read(0, 100, one * 2 + 1)).map((e) => e.seq)).toEqual([1, 2]);
    expect((await spool.read(0, 100, 1)).map((e) => e.seq)).toEqual([1]);
    // Out-of-order reads (not following the cursor) still start at the right place.
    expect((await spool.read(2, 2, 1 << 20)).map((e) => e.seq)).toEqual([3, 4]);
    expect((await spool.read(0, 1, 1 << 20)).map((e) => e.seq)).toEqual([1]);
  });

  it("reads a batch again, from anywhere in a large segment, with a bounded read (a retry after a failed delivery)", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 * 1024 });
    await spool.append(drafts(1, 3000, 2000));
    const batch = async (after: number) => (await spool.read(after, 100, 64 * 1024)).map((e) => e.seq);
    const first = await batch(1000);
    expect(first[0]).toBe(1001);
    expect(first.length).toBeGreaterThan(10);
    // The same batch again (the delivery failed), then the next, then the same one once more.
    expect(await batch(1000)).toEqual(first);
    const next = await batch(first.at(-1) as number);
    expect(next[0]).toBe((first.at(-1) as number) + 1);
    expect(await batch(1000)).toEqual(first);
    expect(await batch(2990)).toEqual([2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998, 2999, 3000]);
    await closeSpool(spool);
  });

  it("ends a batch where the byte budget ends it: never skips the rest of a segment for the next one's events", async () => {
    // Big and small events across several segments: a batch that fills up in the middle of a
    // segment used to go on with the next segment's small first events, and the shipper's
    // acknowledgement of the batch's last seq then lost the skipped ones for good.
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    for (let i = 0; i < 40; i++) await spool.append([draft(i * 2, 10), draft(i * 2 + 1, 20_000)]);
    expect(segments().length).toBeGreaterThan(3);
    let after = 0;
    const seen: number[] = [];
    for (let batches = 0; batches < 200 && after < 80; batches++) {
      const batch = await spool.read(after, 1000, 50_000);
      expect(batch.length).toBeGreaterThan(0);
      seen.push(...batch.map((e) => e.seq));
      after = batch.at(-1)?.seq as number;
    }
    expect(seen).toEqual(Array.from({ length: 80 }, (_, k) => k + 1));
  });

  it("rolls over to new segments and reads across them", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    const written: AuditEvent[] = [];
    for (let i = 0; i < 20; i++) written.push(...(await spool.append(drafts(i * 10, 10, 900))));
    expect(segments().length).toBeGreaterThan(2);
    for (const name of segments()) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(64 * 1024);
    const all = await readAll(spool);
    expect(all).toEqual(written);
    expectChain(all);
    expect(spool.bytes).toBe(segments().reduce((sum, n) => sum + statSync(join(dir, n)).size, 0));
  });

  it("calls append listeners after each append, until unsubscribed", async () => {
    const spool = await openSpool();
    const seen: number[] = [];
    const off = spool.onAppend(() => seen.push(spool.head.seq));
    await spool.append(drafts(1, 2));
    await spool.append(drafts(3, 1));
    off();
    await spool.append(drafts(4, 1));
    expect(seen).toEqual([2, 3]);
  });

  it("rejects an unserialisable draft alone, without failing its batch or leaking a rejection", async () => {
    const spool = await openSpool();
    const bad = draftEvent({ source, type: "test.event", attrs: { n: 1n } });
    const results = await Promise.allSettled([
      spool.append(drafts(1, 1)),
      spool.append([bad]),
      spool.append(drafts(2, 1)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const all = await readAll(spool);
    expect(all.map((e) => e.seq)).toEqual([1, 2]);
    expectChain(all);
    expect((await spool.append(drafts(3, 1)))[0]?.seq).toBe(3);
  });

  it("refuses appends after close, and close is idempotent", async () => {
    const spool = await openSpool();
    await spool.append(drafts(1, 1));
    await closeSpool(spool);
    await spool.close();
    await expect(spool.append(drafts(2, 1))).rejects.toSatisfy((err) => isClawguardError(err));
  });

  it("flushes appends still pending when closed", async () => {
    const spool = await openSpool();
    const pending = Array.from({ length: 20 }, (_, i) => spool.append(drafts(i, 5)));
    await closeSpool(spool);
    expect((await Promise.all(pending)).flat().length).toBe(100);
    const again = await openSpool();
    expect(again.head.seq).toBe(100);
    expectChain(await readAll(again));
  });
});

describe("Spool acknowledgement", () => {
  it("deletes only whole segments whose every event is acknowledged", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    const written: AuditEvent[] = [];
    for (let i = 0; i < 60; i++) written.push(...(await spool.append(drafts(i * 5, 5, 900))));
    const before = segments();
    expect(before.length).toBeGreaterThan(3);
    // Which events live in which segment, straight from the files.
    const seqsIn = (name: string) =>
      scanFrames(readFileSync(join(dir, name)))
        .frames.map((f) => JSON.parse(f.payload.toString()) as { seq?: number })
        .flatMap((r) => (r.seq === undefined ? [] : [r.seq]));
    const firstSegSeqs = seqsIn(before[0] as string);
    const secondSegSeqs = seqsIn(before[1] as string);
    // Acknowledge up to the middle of the second segment.
    const mid = secondSegSeqs[Math.floor(secondSegSeqs.length / 2)] as number;
    await spool.ack({ seq: mid, hash: written[mid - 1]?.hash as string });
    expect(segments()).toEqual(before.slice(1));
    expect(spool.acked.seq).toBe(mid);
    expect(spool.backlog).toBe(written.length - mid);
    expect(AckRecord.read(dir)).toEqual({
      seq: mid,
      hash: written[mid - 1]?.hash,
    });
    // Nothing unacknowledged is gone: everything after the first segment is still readable.
    const rest = await readAll(spool, firstSegSeqs.at(-1));
    expect(rest).toEqual(written.slice(firstSegSeqs.at(-1)));
    expect((await readAll(spool, mid)).map((e) => e.seq)[0]).toBe(mid + 1);
    // An older acknowledgement changes nothing.
    await spool.ack({ seq: 1, hash: written[0]?.hash as string });
    expect(spool.acked.seq).toBe(mid);
    expect(segments()).toEqual(before.slice(1));
  });

  it("keeps the active segment even when everything is acknowledged, and resumes the chain after restart", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    const written: AuditEvent[] = [];
    for (let i = 0; i < 20; i++) written.push(...(await spool.append(drafts(i * 5, 5, 900))));
    const last = written.at(-1) as AuditEvent;
    await spool.ack({ seq: last.seq, hash: last.hash });
    expect(segments().length).toBe(1);
    expect(spool.backlog).toBe(0);
    await closeSpool(spool);
    rmSync(join(dir, ACK_FILE)); // the active segment alone must carry the head
    const again = await openSpool();
    expect(again.head).toEqual({ seq: last.seq, hash: last.hash });
    const [next] = await again.append(drafts(1000, 1));
    expect(next?.seq).toBe(last.seq + 1);
    expect(next?.prev_hash).toBe(last.hash);
  });

  it("deletes on reopen the segments acknowledged before a crash", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    const written: AuditEvent[] = [];
    for (let i = 0; i < 20; i++) written.push(...(await spool.append(drafts(i * 5, 5, 900))));
    await closeSpool(spool);
    const count = segments().length;
    const last = written.at(-1) as AuditEvent;
    // As if the process died right after writing the acknowledgement (an older sidecar's ack.json).
    writeFileSync(join(dir, "ack.json"), JSON.stringify({ seq: last.seq - 1, hash: written.at(-2)?.hash }));
    const again = await openSpool();
    expect(segments().length).toBeLessThan(count);
    expect((await readAll(again, last.seq - 1)).map((e) => e.seq)).toEqual([last.seq]);
    expect(again.backlog).toBe(1);
  });
});

describe("Spool acknowledgement needs no new space", () => {
  it("overwrites one allocated record in place: no new file, no new block, whatever the number of acks", async () => {
    const spool = await openSpool();
    const written = await spool.append(drafts(1, 50));
    const files = readdirSync(dir).sort();
    const before = statSync(join(dir, ACK_FILE));
    for (const e of written) await spool.ack({ seq: e.seq, hash: e.hash });
    const after = statSync(join(dir, ACK_FILE));
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(after.ino).toBe(before.ino);
    expect(after.size).toBe(before.size);
    expect(after.blocks).toBe(before.blocks);
    expect(AckRecord.read(dir)).toEqual({ seq: 50, hash: written[49]?.hash });
    await closeSpool(spool);
  });

  it("a slot torn by a crash leaves the previous acknowledgement", async () => {
    const spool = await openSpool();
    const written = await spool.append(drafts(1, 3));
    await spool.ack({ seq: 2, hash: written[1]?.hash as string });
    await spool.ack({ seq: 3, hash: written[2]?.hash as string });
    await closeSpool(spool);
    const buf = readFileSync(join(dir, ACK_FILE));
    // The newest slot (the one holding seq 3) cut short.
    const newest = buf.indexOf('"seq":3') > 256 ? 256 : 0;
    buf.fill(0, newest + 20, newest + 256);
    writeFileSync(join(dir, ACK_FILE), buf);
    expect(AckRecord.read(dir)?.seq).toBe(2);
    const again = await openSpool();
    expect((await readAll(again, again.acked.seq)).map((e) => e.seq)).toEqual([3]);
  });
});

describe("Spool restart", () => {
  it("resumes seq and chain after close and reopen", async () => {
    const spool = await openSpool();
    const first = await spool.append(drafts(1, 10));
    await closeSpool(spool);
    const again = await openSpool();
    expect(again.head).toEqual({ seq: 10, hash: first[9]?.hash });
    expect(again.quarantined).toEqual([]);
    for (const e of first) expect(again.has(e.id)).toBe(true);
    const second = await again.append(drafts(11, 5));
    expect(second[0]?.seq).toBe(11);
    expect(second[0]?.prev_hash).toBe(first[9]?.hash);
    const all = await readAll(again);
    expect(all).toEqual([...first, ...second]);
    expectChain(all);
  });

  it("starts an empty spool at seq 1 from the genesis hash", async () => {
    const spool = await openSpool();
    expect(spool.head).toEqual(EMPTY_HEAD);
    expect(spool.bytes).toBeGreaterThan(0); // the segment header
    expect(await spool.read(0, 10, 1 << 20)).toEqual([]);
    await closeSpool(spool);
    const again = await openSpool();
    expect((await again.append(drafts(1, 1)))[0]?.prev_hash).toBe(GENESIS_HASH);
  });
});

describe("Spool recovery", () => {
  it("truncates a torn tail on reopen and keeps every earlier event", async () => {
    const spool = await openSpool();
    const written = await spool.append(drafts(1, 10, 50));
    await closeSpool(spool);
    const file = lastSegment();
    const size = statSync(file).size;
    const lastLength = encodeFrame(JSON.stringify(written[9])).length;
    truncateSync(file, size - Math.floor(lastLength / 2)); // mid-record, as a kill -9 mid-write leaves it

    const again = await openSpool();
    expect(again.head).toEqual({ seq: 9, hash: written[8]?.hash });
    const back = await readAll(again);
    expect(back).toEqual(written.slice(0, 9));
    expect(statSync(file).size).toBe(size - lastLength);
    // The next event takes the place of the torn one, linked to the last whole one.
    const [next] = await again.append(drafts(100, 1));
    expect(next?.seq).toBe(10);
    expect(next?.prev_hash).toBe(written[8]?.hash);
    await closeSpool(again);

    const third = await openSpool();
    expect(third.quarantined).toEqual([]);
    expectChain(await readAll(third));
  });

  it("recovers from a tail torn inside a frame header", async () => {
    const spool = await openSpool();
    const written = await spool.append(drafts(1, 5));
    await closeSpool(spool);
    const file = lastSegment();
    const lastLength = encodeFrame(JSON.stringify(written[4])).length;
    truncateSync(file, statSync(file).size - lastLength + FRAME_HEADER - 5);
    const again = await openSpool();
    expect((await readAll(again)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it("quarantines and reports a corrupt record in the middle; later records stay readable", async () => {
    const spool = await openSpool();
    const written = await spool.append(drafts(1, 20, 30));
    await closeSpool(spool);
    const file = lastSegment();
    const buf = readFileSync(file);
    const frames = scanFrames(buf).frames; // [header, event 1, ..., event 20]
    const bad = frames[10] as { offset: number; length: number }; // event 10
    const original = Buffer.from(buf.subarray(bad.offset, bad.offset + bad.length));
    flip(buf, bad.offset + FRAME_HEADER + 3);
    flip(buf, bad.offset + FRAME_HEADER + 4);
    writeFileSync(file, buf);

    const again = await openSpool();
    expect(again.quarantined).toHaveLength(1);
    const report = again.quarantined[0];
    expect(report).toMatchObject({
      segment: segments().at(-1),
      offset: bad.offset,
      bytes: bad.length,
      reason: "checksum mismatch",
    });
    // The bad bytes are kept aside, byte for byte.
    const kept = readFileSync(report?.file as string);
    expect(kept.length).toBe(bad.length);
    expect(kept.equals(original)).toBe(false);
    flip(kept, FRAME_HEADER + 3);
    flip(kept, FRAME_HEADER + 4);
    expect(kept.equals(original)).toBe(true);

    const back = await readAll(again);
    expect(back.map((e) => e.seq)).toEqual([...Array.from({ length: 9 }, (_, i) => i + 1), ...range(11, 20)]);
    expectChain(back.slice(0, 9));
    expectChain(back.slice(9), { seq: 10, hash: written[9]?.hash as string });
    expect(again.head).toEqual({ seq: 20, hash: written[19]?.hash });
    expect((await again.append(drafts(21, 1)))[0]?.seq).toBe(21);
    await closeSpool(again);

    // Recovery is done once: reopening finds a clean segment, and never throws.
    for (let i = 0; i < 3; i++) {
      const next = await openSpool();
      expect(next.quarantined).toEqual([]);
      expect((await readAll(next)).length).toBe(20);
      await closeSpool(next);
    }
  });

  it("survives a segment of pure garbage and garbage spliced between records", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    for (let i = 0; i < 20; i++) await spool.append(drafts(i * 10, 10, 900));
    await closeSpool(spool);
    const names = segments();
    expect(names.length).toBeGreaterThan(2);
    const seqsOf = (name: string) =>
      scanFrames(readFileSync(join(dir, name)))
        .frames.map((f) => JSON.parse(f.payload.toString()) as { seq?: number })
        .flatMap((r) => (r.seq === undefined ? [] : [r.seq]));
    const lost = seqsOf(names[0] as string);
    writeFileSync(join(dir, names[0] as string), Buffer.alloc(5000, 0xa5));
    const second = join(dir, names[1] as string);
    const buf = readFileSync(second);
    const cut = scanFrames(buf).frames[3]?.offset as number;
    writeFileSync(
      second,
      Buffer.concat([buf.subarray(0, cut), Buffer.from("GARBAGE".repeat(30)), buf.subarray(cut)]),
    );

    const again = await openSpool();
    expect(again.quarantined.map((q) => [q.segment, q.reason])).toEqual([
      [names[0], "bad magic"],
      [names[1], "bad magic"],
    ]);
    const back = (await readAll(again)).map((e) => e.seq);
    expect(back).toEqual(range(1, 200).filter((s) => !lost.includes(s)));
    expect(again.head.seq).toBe(200);
  });

  it("quarantines a record whose checksum holds but whose payload is not an event", async () => {
    const spool = await openSpool();
    await spool.append(drafts(1, 3));
    await closeSpool(spool);
    const file = lastSegment();
    const buf = readFileSync(file);
    const frames = scanFrames(buf).frames;
    const second = frames[2] as { offset: number; length: number };
    writeFileSync(
      file,
      Buffer.concat([
        buf.subarray(0, second.offset),
        encodeFrame("this is not JSON"),
        buf.subarray(second.offset + second.length),
      ]),
    );
    const again = await openSpool();
    expect(again.quarantined).toHaveLength(1);
    expect((await readAll(again)).map((e) => e.seq)).toEqual([1, 3]);
    await closeSpool(again);
    const third = await openSpool();
    expect(third.quarantined).toEqual([]);
  });

  it("ignores an unreadable acknowledgement and re-sends everything", async () => {
    const spool = await openSpool();
    const written = await spool.append(drafts(1, 3));
    await spool.ack({ seq: 2, hash: written[1]?.hash as string });
    await closeSpool(spool);
    writeFileSync(join(dir, ACK_FILE), Buffer.alloc(512, 0x41));
    const again = await openSpool();
    expect(again.acked).toEqual(EMPTY_HEAD);
    expect((await readAll(again)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });
});

describe("Spool lock", () => {
  const spoolModule = fileURLToPath(new URL("./spool.ts", import.meta.url));
  const logModule = fileURLToPath(new URL("../../../../shared/src/log.ts", import.meta.url));
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child?.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    child = undefined;
  });

  it("refuses a second open in the same process while the first holds it", async () => {
    const spool = await openSpool();
    const second = openSpool();
    await expect(second).rejects.toSatisfy((err) => isClawguardError(err, "spool.locked"));
    await closeSpool(spool);
    const third = await openSpool(); // released on close
    expect(third.head.seq).toBe(0);
  });

  it("refuses an open while another process holds the lock, and takes over once it is dead", async () => {
    const script = `
      const { Spool } = await import(${JSON.stringify(spoolModule)});
      const { silentLogger } = await import(${JSON.stringify(logModule)});
      const { draftEvent } = await import(${JSON.stringify(fileURLToPath(new URL("../../../../shared/src/events/envelope.ts", import.meta.url)))});
      const spool = await Spool.open({ dir: ${JSON.stringify(dir)}, maxBytes: 1 << 24, segmentBytes: 1 << 16,
        fsync: "always", fsyncIntervalMs: 10, log: silentLogger });
      await spool.append([draftEvent({ source: { agent: "main", role: "agent", host: "h" }, type: "test.event" })]);
      process.stdout.write("ready\\n");
      setInterval(() => {}, 1000);
    `;
    child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const proc = child;
    let stderr = "";
    proc.stderr?.on("data", (d) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not start: ${stderr}`)), 10_000);
      proc.stdout?.on("data", (d) => {
        if (String(d).includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code) => reject(new Error(`child exited ${code}: ${stderr}`)));
    });
    const err = await openSpool().catch((e: unknown) => e);
    expect(isClawguardError(err, "spool.locked")).toBe(true);
    expect((err as ClawguardError).message).toContain(`pid ${proc.pid}`);

    // kill -9: the LOCK link stays behind, naming a dead pid.
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
    expect(readlinkSync(join(dir, "LOCK")).split(":")[0]).toBe(String(proc.pid));
    const spool = await openSpool();
    expect(spool.head.seq).toBe(1);
    expect(readlinkSync(join(dir, "LOCK")).split(":")[0]).toBe(String(process.pid));
    await closeSpool(spool);
    expect(readdirSync(dir)).not.toContain("LOCK");
  });

  it("takes over a lock file an older version left (a file holding a dead pid)", async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "LOCK"), "999999999");
    const spool = await openSpool();
    expect(readlinkSync(join(dir, "LOCK")).split(":")[0]).toBe(String(process.pid));
    await closeSpool(spool);
  });
});

describe("Spool bounds", () => {
  it("fails with spool.full at maxBytes, loses nothing stored, and accepts again once acknowledged", async () => {
    const maxBytes = 256 * 1024;
    const spool = await openSpool({ maxBytes, segmentBytes: 64 * 1024 });
    const written: AuditEvent[] = [];
    let full: unknown;
    for (let i = 0; i < 1000 && full === undefined; i++) {
      try {
        written.push(...(await spool.append(drafts(i * 4, 4, 1000))));
      } catch (err) {
        full = err;
      }
    }
    expect(isClawguardError(full, "spool.full")).toBe(true);
    expect((full as ClawguardError).retryable).toBe(true);
    expect((full as ClawguardError).message).toMatch(/of 262144 bytes/);
    expect(spool.bytes).toBeLessThanOrEqual(maxBytes);
    expect(segments().reduce((sum, n) => sum + statSync(join(dir, n)).size, 0)).toBeLessThanOrEqual(maxBytes);
    // A small append that still fits goes through; a big one in the same batch does not block it.
    const [small, big] = await Promise.allSettled([
      spool.append(drafts(0, 1)),
      spool.append(drafts(0, 200, 1000)),
    ]);
    expect(big.status).toBe("rejected");
    if (small.status === "fulfilled") written.push(...small.value);
    const stored = await readAll(spool);
    expect(stored).toEqual(written);
    expectChain(stored);

    const last = written.at(-1) as AuditEvent;
    await spool.ack({ seq: last.seq, hash: last.hash });
    const more = await spool.append(drafts(0, 4, 1000));
    expect(more[0]?.seq).toBe(last.seq + 1);
    expect(more[0]?.prev_hash).toBe(last.hash);
  });

  it("frees its only segment once everything in it is acknowledged: full clears, also after a restart", async () => {
    // maxBytes below segmentBytes (config refuses it now; a spool left so must still recover).
    const options = { maxBytes: 128 * 1024, segmentBytes: 1024 * 1024 };
    const spool = await openSpool(options);
    const written: AuditEvent[] = [];
    let full: unknown;
    for (let i = 0; i < 1000 && full === undefined; i++) {
      try {
        written.push(...(await spool.append(drafts(i * 4, 4, 1000))));
      } catch (err) {
        full = err;
      }
    }
    expect(isClawguardError(full, "spool.full")).toBe(true);
    expect(segments()).toHaveLength(1);
    const last = written.at(-1) as AuditEvent;
    await spool.ack({ seq: last.seq, hash: last.hash });
    // The acknowledgement rolls the acknowledged segment away (in the background).
    for (let i = 0; i < 100 && spool.bytes > options.maxBytes / 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(spool.bytes).toBeLessThan(1024);
    expect(segments()).toHaveLength(1);
    const more = await spool.append(drafts(0, 4, 1000));
    expect(more[0]?.seq).toBe(last.seq + 1);
    expect(more[0]?.prev_hash).toBe(last.hash);

    // Full again, then stopped; everything is acknowledged while it is down (as a spool left stuck
    // by an older build): on restart, the next append frees it instead of refusing.
    for (let i = 0; i < 1000; i++) {
      try {
        more.push(...(await spool.append(drafts(i * 4, 4, 1000))));
      } catch {
        break;
      }
    }
    const end = more.at(-1) as AuditEvent;
    await closeSpool(spool);
    const record = AckRecord.open(dir, { seq: end.seq, hash: end.hash });
    await record.write({ seq: end.seq, hash: end.hash });
    record.close();
    const again = await openSpool(options);
    expect(again.bytes).toBeGreaterThan(options.maxBytes / 2);
    expect(again.acked.seq).toBe(end.seq);
    const after = await again.append(drafts(0, 4, 1000));
    expect(after[0]?.seq).toBe(end.seq + 1);
    expect(after[0]?.prev_hash).toBe(end.hash);
    expect(again.bytes).toBeLessThan(16 * 1024);
    expect(await readAll(again, end.seq)).toEqual(after);
  });

  it("keeps working after a segment roll fails (e.g. disk full), without losing or reordering events", async () => {
    const spool = await openSpool({ segmentBytes: 64 * 1024 });
    const written: AuditEvent[] = [];
    written.push(...(await spool.append(drafts(0, 10, 900))));
    // Block the next segment's name, so creating it fails the way a full disk would.
    const next = join(dir, `seg-${String(2).padStart(20, "0")}.log`);
    mkdirSync(next);
    let failure: unknown;
    for (let i = 0; i < 200 && failure === undefined; i++) {
      try {
        written.push(...(await spool.append(drafts(i, 5, 900))));
      } catch (err) {
        failure = err;
      }
    }
    expect(isClawguardError(failure, "spool.io")).toBe(true);
    expect((failure as { details?: { errno?: string } }).details?.errno).toBe("EEXIST");
    await expect(spool.append(drafts(0, 5, 900))).rejects.toThrow();
    rmSync(next, { recursive: true });
    written.push(...(await spool.append(drafts(0, 5, 900))));
    written.push(...(await spool.append(drafts(0, 100, 900))));
    const stored = await readAll(spool);
    expect(stored).toEqual(written);
    expectChain(stored);
    await closeSpool(spool);
    const again = await openSpool();
    expect(again.quarantined).toEqual([]);
    expect(await readAll(again)).toEqual(written);
  });
});

describe("Spool fsync policies", () => {
  async function datasyncSpy() {
    const probe = join(tmp.path, "probe");
    writeFileSync(probe, "");
    const handle = await open(probe, "r");
    const proto = Object.getPrototypeOf(handle) as { datasync: () => Promise<void> };
    await handle.close();
    return vi.spyOn(proto, "datasync");
  }

  it.each(["always", "interval", "never"] as const)(
    "fsync %s: appends survive close and reopen",
    async (fsync) => {
      const spool = await openSpool({ fsync, fsyncIntervalMs: 10 });
      const written = (
        await Promise.all(Array.from({ length: 10 }, (_, i) => spool.append(drafts(i, 3))))
      ).flat();
      await new Promise((r) => setTimeout(r, 30));
      await closeSpool(spool);
      const again = await openSpool({ fsync });
      const back = await readAll(again);
      expect(back).toEqual(written);
      expectChain(back);
    },
  );

  it("always: syncs before every append returns", async () => {
    const spool = await openSpool({ fsync: "always" });
    const spy = await datasyncSpy();
    await spool.append(drafts(0, 1));
    expect(spy).toHaveBeenCalledTimes(1);
    await spool.append(drafts(1, 1));
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it("interval: syncs on the timer, not per append", async () => {
    const spool = await openSpool({ fsync: "interval", fsyncIntervalMs: 200 });
    const spy = await datasyncSpy();
    await spool.append(drafts(0, 1));
    await spool.append(drafts(1, 1));
    expect(spy).toHaveBeenCalledTimes(0);
    await vi.waitFor(() => expect(spy).toHaveBeenCalled(), { timeout: 2000, interval: 5 });
    const calls = spy.mock.calls.length;
    await new Promise((r) => setTimeout(r, 450));
    expect(spy.mock.calls.length).toBe(calls); // nothing new written: nothing to sync
    await spool.append(drafts(2, 1));
    await vi.waitFor(() => expect(spy.mock.calls.length).toBe(calls + 1), { timeout: 2000, interval: 5 });
  });

  it("never: leaves syncing to the OS until close", async () => {
    const spool = await openSpool({ fsync: "never", fsyncIntervalMs: 10 });
    const spy = await datasyncSpy();
    await spool.append(drafts(0, 1));
    await new Promise((r) => setTimeout(r, 50));
    expect(spy).toHaveBeenCalledTimes(0);
    await closeSpool(spool);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Inverts one byte of a buffer in place. */
function flip(buf: Buffer, at: number): void {
  buf[at] = (buf[at] as number) ^ 0xff;
}
