import { type ChainHead, EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { isClawguardError } from "@clawguard/shared/errors";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import type { HistoryEntry } from "@clawguard/shared/events/memory-version";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestBatch } from "../ingest.ts";
import { AuditStore, COLLECTOR_AGENT } from "./audit-store.ts";
import type { Db } from "./db.ts";
import { MemoryStore, sha256Hex } from "./memory-store.ts";
import { migrate } from "./migrations.ts";
import { storeBackends } from "./test-backends.ts";

/** The memory half of the store contract, on the same backends as the audit trail. */

interface Change {
  path: string;
  change: "created" | "modified" | "deleted";
  content?: string;
  /** Seconds after the suite's epoch. */
  at: number;
}

const EPOCH = Date.UTC(2026, 10, 24, 12, 0, 0);
const hashOf = (content: string) => sha256Hex(Buffer.from(content));

/** A chain of `memory.changed` events (with an unrelated event between each) as the watcher emits them. */
function memoryChain(agent: string, changes: Change[], from: ChainHead = EMPTY_HEAD): AuditEvent[] {
  let head = from;
  const out: AuditEvent[] = [];
  const seal = (type: string, attrs: Record<string, unknown>, at: number) => {
    const event = sealEvent(
      draftEvent({
        source: { agent, role: "agent", host: "h" },
        type,
        attrs,
        time: new Date(EPOCH + at * 1000),
      }),
      head,
    );
    head = { seq: event.seq, hash: event.hash };
    out.push(event);
  };
  for (const c of changes) {
    const content = c.content ?? "";
    seal(
      "memory.changed",
      {
        path: c.path,
        change: c.change,
        size: c.change === "deleted" ? 0 : Buffer.byteLength(content),
        sha256: c.change === "deleted" ? null : hashOf(content),
        lines_added: 1,
        lines_removed: 0,
      },
      c.at,
    );
    seal("exec.completed", { n: head.seq + 1 }, c.at);
  }
  return out;
}

describe.each(storeBackends)("memory store contract on $name", ({ skip, open }) => {
  let db: Db;
  let done: () => Promise<void>;
  let audit: AuditStore;
  let memory: MemoryStore;
  const versions = async (agent: string) =>
    (await db.query("SELECT * FROM memory_versions WHERE agent = $1 ORDER BY time, event_id", [agent])).rows;

  beforeAll(async () => {
    if (skip) return;
    ({ db, done } = await open());
    await migrate(db);
    audit = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
    memory = new MemoryStore(db);
  });
  afterAll(async () => {
    if (skip) return;
    await db.close();
    await done();
  });

  it.skipIf(skip)("records one version per ingested memory.changed event, exactly once", async () => {
    const events = memoryChain("m1", [
      { path: "MEMORY.md", change: "created", content: "a\n", at: 1 },
      { path: "memory/2026-11-24.md", change: "created", content: "x\n", at: 2 },
      { path: "MEMORY.md", change: "modified", content: "a\nb\n", at: 3 },
      { path: "MEMORY.md", change: "deleted", at: 4 },
    ]);
    const first = await ingestBatch(audit, "m1", events);
    expect(first.map((r) => r.status)).toEqual(Array(8).fill("accepted"));
    // At least once from the spool: the same events again, and twice in one batch.
    await ingestBatch(audit, "m1", events);
    const [e0, e1] = events as [AuditEvent, AuditEvent];
    expect((await ingestBatch(audit, "m1", [e0, e0, e1])).map((r) => r.status)).toEqual([
      "duplicate",
      "duplicate",
      "duplicate",
    ]);
    const rows = await versions("m1");
    expect(rows.map((r) => [r.event_id, r.path, r.change, r.sha256, Number(r.size)])).toEqual([
      [events[0]?.id, "MEMORY.md", "created", hashOf("a\n"), 2],
      [events[2]?.id, "memory/2026-11-24.md", "created", hashOf("x\n"), 2],
      [events[4]?.id, "MEMORY.md", "modified", hashOf("a\nb\n"), 4],
      [events[6]?.id, "MEMORY.md", "deleted", null, 0],
    ]);
    expect((await audit.verify("m1")).ok).toBe(true);
  });

  it.skipIf(skip)("sweeps old content no version names, and keeps named or young content", async () => {
    const [named] = memoryChain("m9", [{ path: "MEMORY.md", change: "created", content: "kept\n", at: 1 }]);
    await ingestBatch(audit, "m9", [named as AuditEvent]);
    const content = { named: "kept\n", orphan: "never named\n", young: "event on its way\n" };
    for (const text of Object.values(content)) await memory.putBlob(hashOf(text), Buffer.from(text), "m");
    // Stored two days ago, but for the young one.
    await db.query(
      "UPDATE memory_blobs SET created_at = now() - interval '2 days' WHERE sha256 = ANY($1::text[])",
      [[hashOf(content.named), hashOf(content.orphan)]],
    );
    expect(await memory.sweepOrphanBlobs(86_400_000)).toBe(1);
    expect(await memory.blobSize(hashOf(content.orphan))).toBeNull();
    expect(await memory.blobSize(hashOf(content.named))).toBe(5);
    expect(await memory.blobSize(hashOf(content.young))).toBe(17);
    expect(await memory.sweepOrphanBlobs(86_400_000)).toBe(0);
  });

  it.skipIf(skip)("refuses a memory.changed event that does not describe a version", async () => {
    const [good] = memoryChain("m2", [{ path: "MEMORY.md", change: "created", content: "a", at: 1 }]);
    const bad = sealEvent(
      draftEvent({
        source: { agent: "m2", role: "agent", host: "h" },
        type: "memory.changed",
        attrs: { path: "", change: "renamed", size: -1, sha256: "ABC" },
      }),
      EMPTY_HEAD,
    );
    const [result] = await ingestBatch(audit, "m2", [bad]);
    expect(result?.status).toBe("rejected");
    const errors = result?.errors?.join("\n") ?? "";
    for (const field of ["path", "change", "size", "sha256"]) expect(errors).toContain(`attrs.${field}:`);
    expect((await audit.query({ agent: "m2", limit: 10 })).events).toEqual([]);
    expect(await versions("m2")).toEqual([]);
    expect((await ingestBatch(audit, "m2", [good]))[0]?.status).toBe("accepted");
    expect(await versions("m2")).toHaveLength(1);
  });

  it.skipIf(skip)("stores the event and its version together or neither", async () => {
    const events = memoryChain("m6", [{ path: "FAIL.md", change: "created", content: "f", at: 1 }]);
    // A version row the database refuses must take its event down with it.
    await db.exec("ALTER TABLE memory_versions ADD CONSTRAINT test_refuse CHECK (path <> 'FAIL.md')");
    await expect(ingestBatch(audit, "m6", events)).rejects.toThrow(/test_refuse/);
    expect((await audit.query({ agent: "m6", limit: 10 })).events).toEqual([]);
    await db.exec("ALTER TABLE memory_versions DROP CONSTRAINT test_refuse");
    expect((await ingestBatch(audit, "m6", events)).map((r) => r.status)).toEqual(["accepted", "accepted"]);
    expect(await versions("m6")).toHaveLength(1);
  });

  it.skipIf(skip)("history: newest first across agents sharing a path, by agent, paged", async () => {
    // Two agents on one workspace volume write the same relative path, interleaved in time.
    const a = memoryChain("m3", [
      { path: "AGENTS.md", change: "created", content: "1", at: 10 },
      { path: "AGENTS.md", change: "modified", content: "3", at: 30 },
      { path: "USER.md", change: "created", content: "u", at: 35 },
      { path: "AGENTS.md", change: "modified", content: "5", at: 50 },
    ]);
    const b = memoryChain("m4", [
      { path: "AGENTS.md", change: "modified", content: "2", at: 20 },
      { path: "AGENTS.md", change: "modified", content: "4", at: 40 },
    ]);
    await ingestBatch(audit, "m3", a);
    await ingestBatch(audit, "m4", b);
    const all = await memory.history({ path: "AGENTS.md", limit: 100 });
    expect(all.next_cursor).toBeNull();
    expect(all.versions.map((v) => [v.agent, v.sha256])).toEqual(
      ["5", "4", "3", "2", "1"].map((n) => [Number(n) % 2 ? "m3" : "m4", hashOf(n)]),
    );
    expect(all.versions[0]).toEqual({
      event_id: a[6]?.id,
      agent: "m3",
      path: "AGENTS.md",
      time: a[6]?.time,
      sha256: hashOf("5"),
      size: 1,
      change: "modified",
      blob: false,
    });
    const mine = await memory.history({ path: "AGENTS.md", agent: "m4", limit: 100 });
    expect(mine.versions.map((v) => v.sha256)).toEqual([hashOf("4"), hashOf("2")]);
    const seen: HistoryEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await memory.history({ path: "AGENTS.md", limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.versions.length).toBeLessThanOrEqual(2);
      seen.push(...page.versions);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(all.versions);
    expect((await memory.history({ path: "nothing.md", limit: 10 })).versions).toEqual([]);
  });

  it.skipIf(skip)("stores a blob once, byte for byte, and refuses content that is not its name", async () => {
    const content = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); // every byte value
    const id = sha256Hex(content);
    expect(await memory.blobSize(id)).toBeNull();
    expect(await memory.getBlob(id)).toBeNull();
    expect(await memory.putBlob(id, content, "m")).toBe(true);
    expect(await memory.putBlob(id, content, "m")).toBe(false);
    // Racing uploads of one content: exactly one stores it.
    const other = Buffer.from("raced");
    const raced = await Promise.all(
      Array.from({ length: 4 }, () => memory.putBlob(sha256Hex(other), other, "m")),
    );
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await memory.blobSize(id)).toBe(256);
    expect(Buffer.from((await memory.getBlob(id)) as Uint8Array).equals(content)).toBe(true);
    const empty = Buffer.alloc(0);
    expect(await memory.putBlob(sha256Hex(empty), empty, "m")).toBe(true);
    expect(await memory.blobSize(sha256Hex(empty))).toBe(0);
    const wrong = await memory.putBlob(id, Buffer.from("not it"), "m").catch((err: unknown) => err);
    expect(isClawguardError(wrong, "input.invalid")).toBe(true);
    expect((wrong as Error).message).toContain(id);
    expect((wrong as Error).message).toContain(sha256Hex(Buffer.from("not it")));
    const { rows } = await db.query<{ n: string | number }>(
      "SELECT count(*) AS n FROM memory_blobs WHERE sha256 = $1",
      [id],
    );
    expect(Number(rows[0]?.n)).toBe(1);
    expect(Buffer.from((await memory.getBlob(id)) as Uint8Array).equals(content)).toBe(true);
  });

  it.skipIf(skip)("tells an agent about its own uploads only: another's content looks absent", async () => {
    const content = Buffer.from("a secret only agent a wrote\n");
    const id = sha256Hex(content);
    expect(await memory.putBlob(id, content, "a")).toBe(true);
    expect(await memory.blobSize(id, "a")).toBe(content.length);
    expect(await memory.blobSize(id, "b")).toBeNull();
    expect(await memory.blobSize(sha256Hex(Buffer.from("nobody's")), "b")).toBeNull();
    // b uploading the same content is told what it would be told of new content.
    expect(await memory.putBlob(id, content, "b")).toBe(true);
    expect(await memory.putBlob(id, content, "b")).toBe(false);
    expect(await memory.blobSize(id, "b")).toBe(content.length);
    const { rows } = await db.query<{ n: string | number }>(
      "SELECT count(*) AS n FROM memory_blobs WHERE sha256 = $1",
      [id],
    );
    expect(Number(rows[0]?.n)).toBe(1); // stored once all the same
  });

  it.skipIf(skip)("history tells which versions' content is stored, whenever it arrives", async () => {
    const events = memoryChain("m5", [
      { path: "SOUL.md", change: "created", content: "soul v1", at: 1 },
      { path: "SOUL.md", change: "modified", content: "soul v2", at: 2 },
      { path: "SOUL.md", change: "deleted", at: 3 },
    ]);
    // The content of v1 arrives before its event, v2's after, and a deletion has none.
    await memory.putBlob(hashOf("soul v1"), Buffer.from("soul v1"), "m");
    await ingestBatch(audit, "m5", events);
    const blobs = async () =>
      (await memory.history({ path: "SOUL.md", limit: 10 })).versions.map((v) => v.blob);
    expect(await blobs()).toEqual([false, false, true]);
    await memory.putBlob(hashOf("soul v2"), Buffer.from("soul v2"), "m");
    expect(await blobs()).toEqual([false, true, true]);
  });
});
