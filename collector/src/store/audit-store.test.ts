import { type ChainHead, EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestBatch } from "../ingest.ts";
import { AuditStore, COLLECTOR_AGENT } from "./audit-store.ts";
import type { Db } from "./db.ts";
import { MIGRATIONS, migrate } from "./migrations.ts";
import { storeBackends } from "./test-backends.ts";

/** One contract on the embedded default (PGlite), real PostgreSQL, and PostgreSQL through PgBouncer. */

const collectorSource = { agent: COLLECTOR_AGENT, role: "collector", host: "test" };

function chain(agent: string, count: number, from: ChainHead = EMPTY_HEAD, session = "s1"): AuditEvent[] {
  let head = from;
  const out: AuditEvent[] = [];
  for (let i = 0; i < count; i++) {
    const type = i % 3 === 2 ? "spool.quarantined" : "exec.completed";
    const event = sealEvent(
      draftEvent({
        source: { agent, role: "agent", host: "h" },
        type,
        session,
        attrs: { n: head.seq + 1 },
        time: new Date(Date.UTC(2026, 10, 24, 12, 0, head.seq + 1)),
      }),
      head,
    );
    head = { seq: event.seq, hash: event.hash };
    out.push(event);
  }
  return out;
}

const headOf = (events: AuditEvent[]): ChainHead => {
  const last = events.at(-1) as AuditEvent;
  return { seq: last.seq, hash: last.hash };
};

async function integrity(store: AuditStore): Promise<Record<string, unknown>[]> {
  const { events } = await store.query({ agent: COLLECTOR_AGENT, type: "audit.integrity", limit: 1000 });
  return events.map((e) => e.attrs);
}

describe.each(storeBackends)("audit store contract on $name", ({ skip, open }) => {
  let db: Db;
  let done: () => Promise<void>;
  let store: AuditStore;

  beforeAll(async () => {
    if (skip) return;
    ({ db, done } = await open());
    expect(await migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
    store = new AuditStore(db, collectorSource);
  });
  afterAll(async () => {
    if (skip) return;
    await db.close();
    await done();
  });

  it.skipIf(skip)("applies migrations once", async () => {
    expect(await migrate(db)).toEqual([]);
  });

  it.skipIf(skip)("accepts a chain, is idempotent on id, and verifies", async () => {
    const events = chain("a1", 10);
    const first = await ingestBatch(store, "a1", events);
    expect(first.map((r) => r.status)).toEqual(Array(10).fill("accepted"));
    const again = await ingestBatch(store, "a1", events.slice(3, 6));
    expect(again.map((r) => r.status)).toEqual(["duplicate", "duplicate", "duplicate"]);
    const page = await store.query({ agent: "a1", limit: 100 });
    expect(page.events).toEqual(events);
    const verification = await store.verify("a1");
    expect(verification).toMatchObject({ ok: true, events: 10, first_seq: 1, last_seq: 10, problems: [] });
    expect(await integrity(store)).toEqual([]);
  });

  it.skipIf(skip)("refuses another agent's events and altered hashes", async () => {
    const [foreign] = chain("a9", 1);
    const wrongAgent = await ingestBatch(store, "a2", [foreign]);
    expect(wrongAgent[0]?.status).toBe("rejected");
    const [event] = chain("a2", 1);
    const altered = { ...(event as AuditEvent), attrs: { n: 999 } };
    const result = await ingestBatch(store, "a2", [altered]);
    expect(result[0]).toMatchObject({ status: "rejected" });
    expect(result[0]?.errors?.join()).toMatch(/hash/);
    expect((await store.query({ agent: "a2", limit: 10 })).events).toEqual([]);
    expect((await integrity(store)).map((f) => f.kind)).toContain("hash_mismatch");
  });

  it.skipIf(skip)("records a conflicting duplicate and keeps the original", async () => {
    const events = chain("a3", 2);
    await ingestBatch(store, "a3", events);
    // Same id, different content, hash recomputed: a forged replacement.
    const forged = sealEvent(
      {
        ...draftEvent({ source: events[1]?.source as AuditEvent["source"], type: "exec.completed" }),
        id: events[1]?.id as string,
      },
      headOf(events.slice(0, 1)),
    );
    const result = await ingestBatch(store, "a3", [forged]);
    expect(result[0]?.status).toBe("rejected");
    expect((await store.query({ agent: "a3", limit: 10 })).events).toEqual(events);
    expect((await integrity(store)).map((f) => f.kind)).toContain("conflicting_duplicate");
  });

  it.skipIf(skip)("records gaps and broken links as audit.integrity, never silently", async () => {
    const events = chain("a4", 6);
    await ingestBatch(store, "a4", events.slice(0, 2));
    await ingestBatch(store, "a4", events.slice(4)); // 3 and 4 never arrive
    const other = chain("a4", 1, { seq: 6, hash: "f".repeat(64) }); // links to a hash that is not seq 6
    await ingestBatch(store, "a4", other);
    const kinds = (await integrity(store)).filter((f) => f.agent === "a4");
    expect(kinds).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "gap", missing_from: 3, missing_to: 4 }),
        expect.objectContaining({ kind: "broken_link", seq: 7 }),
      ]),
    );
    const verification = await store.verify("a4");
    expect(verification.ok).toBe(false);
    expect(verification.recorded_integrity_events).toBeGreaterThanOrEqual(2);
    // The collector's own chain of findings verifies.
    expect((await store.verify(COLLECTOR_AGENT)).ok).toBe(true);
  });

  it.skipIf(skip)("accepts late events that fill a gap, refuses a second claim on a seq", async () => {
    const events = chain("a8", 6);
    await ingestBatch(store, "a8", [...events.slice(0, 2), ...events.slice(4)]);
    expect((await store.verify("a8")).ok).toBe(false);
    const late = await ingestBatch(store, "a8", events.slice(2, 4));
    expect(late.map((r) => r.status)).toEqual(["accepted", "accepted"]);
    expect(await store.verify("a8")).toMatchObject({ ok: true, events: 6 });
    const [fork] = chain("a8", 1, headOf(events.slice(0, 2))); // another seq 3
    const claimed = await ingestBatch(store, "a8", [fork]);
    expect(claimed[0]?.status).toBe("rejected");
    expect((await integrity(store)).filter((f) => f.agent === "a8").map((f) => f.kind)).toEqual([
      "gap",
      "seq_conflict",
    ]);
  });

  it.skipIf(skip)(
    "a second sidecar under one name, one event per batch: one seq_conflict finding per run, not per batch",
    async () => {
      await ingestBatch(store, "a10", chain("a10", 8));
      // The second sidecar's own chain from seq 1, shipped one event at a time: each refused.
      const second = chain("a10", 5, EMPTY_HEAD, "s2");
      for (const event of second) {
        const [result] = await ingestBatch(store, "a10", [event]);
        expect(result?.status).toBe("rejected");
      }
      const conflicts = (await integrity(store)).filter((f) => f.agent === "a10");
      expect(conflicts.map((f) => [f.kind, f.seq])).toEqual([["seq_conflict", 1]]);
      // Another claim that does not go on with that run (seq 3 again): a finding of its own.
      const [again] = chain("a10", 1, headOf((second as AuditEvent[]).slice(0, 2)), "s3");
      await ingestBatch(store, "a10", [again as AuditEvent]);
      expect((await integrity(store)).filter((f) => f.agent === "a10").map((f) => f.seq)).toEqual([1, 3]);
      expect((await store.verify(COLLECTOR_AGENT)).ok).toBe(true);
    },
  );

  it.skipIf(skip)("verify finds a row changed behind its back", async () => {
    const events = chain("a5", 5);
    await ingestBatch(store, "a5", events);
    expect((await store.verify("a5")).ok).toBe(true);
    await db.query(
      "UPDATE audit_events SET body = replace(body, '\"n\":3', '\"n\":4') WHERE agent = 'a5' AND seq = 3",
    );
    const verification = await store.verify("a5");
    expect(verification.ok).toBe(false);
    expect(verification.problems.map((p) => p.seq)).toContain(3);
  });

  it.skipIf(skip)("filters by agent, session, type prefix and time, and pages with a cursor", async () => {
    const events = chain("a6", 25, EMPTY_HEAD, "s6");
    await ingestBatch(store, "a6", events);
    const seen: AuditEvent[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.query({ session: "s6", limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.events);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(events);
    const execs = await store.query({ agent: "a6", type: "exec.*", limit: 100 });
    expect(execs.events.map((e) => e.seq)).toEqual(
      events.filter((e) => e.type === "exec.completed").map((e) => e.seq),
    );
    const window = await store.query({
      agent: "a6",
      since: events[4]?.time,
      until: events[9]?.time,
      limit: 100,
    });
    // since is inclusive, until exclusive.
    expect(window.events.map((e) => e.seq)).toEqual([5, 6, 7, 8, 9]);
  });

  it.skipIf(skip)("keeps one chain under concurrent batches for the same agent", async () => {
    const events = chain("a7", 40);
    const batches = [0, 10, 20, 30].map((i) => events.slice(i, i + 10));
    // Sent out of order and at once: some land after a gap, the rest fill it.
    await Promise.all(batches.map((b) => ingestBatch(store, "a7", b)));
    const stored = await store.query({ agent: "a7", limit: 100 });
    expect(stored.events.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    const head = await db.query<{ seq: string | number }>("SELECT seq FROM chain_heads WHERE agent = 'a7'");
    expect(Number(head.rows[0]?.seq)).toBe(40);
  });

  it.skipIf(skip)(
    "records a chain whose time goes back an hour as a finding, and finds its events by the collector's clock",
    async () => {
      // A sidecar whose clock is stepped back an hour between seq 5 and seq 6.
      const now = Date.now();
      let head: ChainHead = EMPTY_HEAD;
      const events: AuditEvent[] = [];
      for (let i = 1; i <= 10; i++) {
        const time = new Date(now - (i > 5 ? 3_600_000 : 0) - (10 - i) * 1000);
        const event = sealEvent(
          draftEvent({ source: { agent: "skew", role: "agent", host: "h" }, type: "exec.completed", time }),
          head,
        );
        head = { seq: event.seq, hash: event.hash };
        events.push(event);
      }
      await ingestBatch(store, "skew", events.slice(0, 5));
      await ingestBatch(store, "skew", events.slice(5, 8)); // the step back, across two batches
      await ingestBatch(store, "skew", events.slice(8));
      expect((await store.verify("skew")).ok).toBe(true); // stored: genuine events, nothing lost
      const findings = (await integrity(store)).filter((f) => f.agent === "skew");
      expect(findings).toEqual([
        expect.objectContaining({
          kind: "clock_backwards",
          seq: 6,
          detail: expect.stringMatching(/went back 3599 s/),
        }),
      ]);
      const severity = (
        await store.query({ agent: COLLECTOR_AGENT, type: "audit.integrity", limit: 1000 })
      ).events
        .filter((e) => e.attrs.agent === "skew")
        .map((e) => e.severity);
      expect(severity).toEqual(["warn"]);
      // "The last 10 minutes": by the agent's clock, only the events from before the step back; by
      // the collector's (when each was stored), all of them, in the order they were stored.
      const since = new Date(now - 600_000).toISOString();
      const byAgent = await store.query({ agent: "skew", since, limit: 100 });
      expect(byAgent.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      const byCollector = await store.query({ agent: "skew", since, clock: "collector", limit: 4 });
      const rest = await store.query({
        agent: "skew",
        since,
        clock: "collector",
        limit: 100,
        cursor: byCollector.next_cursor as string,
      });
      expect([...byCollector.events, ...rest.events].map((e) => e.seq).sort((a, b) => a - b)).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
    },
  );
});
