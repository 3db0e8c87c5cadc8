import { type ChainHead, EMPTY_HEAD, hashEvent, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { createCollectorApp } from "./api/app.ts";
import { testCollectorApp } from "./api/test-app.ts";
import { appendIsolating } from "./ingest.ts";
import { AuditStore, COLLECTOR_AGENT, canonicalBody } from "./store/audit-store.ts";
import type { Db } from "./store/db.ts";
import { migrate } from "./store/migrations.ts";
import { backends } from "./store/test-backends.ts";

/**
 * The review's findings against the ingest path, on both real stores: one bad event is refused
 * with its reason and never stops the batch (no 500), and integrity findings come once per gap or
 * run, not once per event.
 */

const AGENTS = ["main", "bulk", "gappy", "iso", ...Array.from({ length: 12 }, (_, i) => `case${i}`)];
const tokenOf = (agent: string) => `token-of-${agent}`.padEnd(40, "x");
const source = (agent: string) => ({ agent, role: "agent", host: "h" });

/** Stands for attrs nested 10 000 deep in a request body. */
const DEEP = "__10k_deep__";
const DEEP_JSON = `${'{"n":'.repeat(10_000)}1${"}".repeat(10_000)}`;

/** Seals `patch` applied to a fresh draft after `head`: hash and link are right, the content is bad. */
function sealedWith(agent: string, head: ChainHead, patch: Record<string, unknown>): AuditEvent {
  const draft = { ...draftEvent({ source: source(agent), type: "exec.completed" }), ...patch };
  return sealEvent(draft as ReturnType<typeof draftEvent>, head);
}

function chain(agent: string, count: number, from: ChainHead = EMPTY_HEAD): AuditEvent[] {
  let head = from;
  return Array.from({ length: count }, () => {
    const e = sealedWith(agent, head, {});
    head = { seq: e.seq, hash: e.hash };
    return e;
  });
}

const BAD: [string, (agent: string, head: ChainHead) => AuditEvent, RegExp][] = [
  ["a NUL in session", (a, h) => sealedWith(a, h, { session: "s\u0000x" }), /session.*NUL/],
  ["a lone surrogate in session", (a, h) => sealedWith(a, h, { session: "s\ud800" }), /session.*surrogate/],
  ["a NUL in an attrs string", (a, h) => sealedWith(a, h, { attrs: { out: "a\u0000b" } }), /attrs\.out.*NUL/],
  ["a NUL in an attrs key", (a, h) => sealedWith(a, h, { attrs: { "k\u0000": 1 } }), /attrs.*NUL/],
  ["a lone surrogate in attrs", (a, h) => sealedWith(a, h, { attrs: { x: ["\udc00"] } }), /surrogate/],
  // Too deep to write with JSON.stringify here: the body carries it as text (see post).
  ["attrs nested 10 000 deep", (a, h) => sealedWith(a, h, { attrs: { d: DEEP } }), /deeper than 32/],
  ["year 0000", (a, h) => sealedWith(a, h, { time: "0000-01-01T00:00:00Z" }), /time.*1970/],
  ["30 February", (a, h) => sealedWith(a, h, { time: "2026-02-30T10:00:00Z" }), /time.*not a real date/],
  ["an offset of +23:00", (a, h) => sealedWith(a, h, { time: "2026-02-03T10:00:00+23:00" }), /time/],
  [
    "seq 2^53-1",
    (a, h) => {
      const e = sealedWith(a, h, {});
      const unsealed = { ...e, seq: Number.MAX_SAFE_INTEGER };
      return { ...unsealed, hash: hashEvent(unsealed) };
    },
    /seq.*2\^48/,
  ],
  [
    "a 300-char role",
    (a, h) => sealedWith(a, h, { source: { ...source(a), role: "r".repeat(300) } }),
    /role/,
  ],
];

describe.each(backends)("ingest of bad events on $name", ({ skip, open }) => {
  let db: Db;
  let done: () => Promise<void>;
  let store: AuditStore;
  let app: ReturnType<typeof createCollectorApp>;
  const post = (agent: string, events: unknown[]) =>
    app.request("/v1/events", {
      method: "POST",
      body: JSON.stringify({ events }).replace(`"${DEEP}"`, DEEP_JSON),
      headers: { authorization: `Bearer ${tokenOf(agent)}`, "content-type": "application/json" },
    });

  beforeAll(async () => {
    if (skip) return;
    ({ db, done } = await open());
    await migrate(db);
    store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
    app = testCollectorApp(db, {
      store,
      ingestTokens: AGENTS.reduce((set, a) => set.add(tokenOf(a), a), new TokenSet<string>()),
      readTokens: new TokenSet<string>().add("r".repeat(40), "reader"),
      bodyLimitBytes: 16 * 1024 * 1024,
      blobLimitBytes: 1024 * 1024,
      maxBatchEvents: 20_000,
      log: silentLogger,
    });
  });
  afterAll(async () => {
    if (skip) return;
    await db.close();
    await done();
  });

  it.skipIf(skip).each(BAD.map((c, i) => [...c, `case${i}`] as const))(
    "%s: refused with its reason, the rest of the batch stored",
    async (_, make, why, agent) => {
      const [before] = chain(agent, 1) as [AuditEvent];
      const bad = make(agent, { seq: before.seq, hash: before.hash });
      const response = await post(agent, [before, bad]);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { results: { status: string; errors?: string[] }[] };
      expect(body.results[0]?.status).toBe("accepted");
      expect(body.results[1]?.status).toBe("rejected");
      expect(body.results[1]?.errors?.join("; ")).toMatch(why);
      // The bad event's seq is a gap once the next good one arrives: recorded once, the chain goes on.
      const [after] = chain(agent, 1, { seq: before.seq + 1, hash: bad.hash }) as [AuditEvent];
      const next = await post(agent, [after]);
      expect(next.status).toBe(200);
      expect(((await next.json()) as { accepted: number }).accepted).toBe(1);
      const verified = await store.verify(agent);
      expect(verified.problems.map((p) => p.kind)).toEqual(["gap"]);
      expect(verified.recorded_integrity_events).toBe(1);
    },
  );

  it.skipIf(skip)("10 000 events with bad hashes make one finding per run, not 10 000", async () => {
    const events = chain("bulk", 10_000).map((e) => ({ ...e, hash: "f".repeat(64) }));
    const response = await post("bulk", events);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { rejected: number }).rejected).toBe(10_000);
    const { rows } = await db.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM audit_events WHERE agent = $1 AND (body::jsonb -> 'attrs' ->> 'agent') = 'bulk'`,
      [COLLECTOR_AGENT],
    );
    expect(Number(rows[0]?.n)).toBe(1);
    expect((await store.verify(COLLECTOR_AGENT)).ok).toBe(true);
  });

  it.skipIf(skip)("a seq jump is one gap finding, however many seqs it spans", async () => {
    const events = chain("gappy", 50);
    const response = await post("gappy", [events[0], events[10], events[11], events[40]]);
    expect(response.status).toBe(200);
    const { rows } = await db.query<{ body: string }>(
      `SELECT body FROM audit_events WHERE agent = $1 AND (body::jsonb -> 'attrs' ->> 'agent') = 'gappy' ORDER BY seq`,
      [COLLECTOR_AGENT],
    );
    const gaps = rows.map((r) => (JSON.parse(r.body) as AuditEvent).attrs);
    expect(gaps.map((a) => [a.kind, a.missing_from, a.missing_to])).toEqual([
      ["gap", 2, 10],
      ["gap", 13, 40],
    ]);
  });

  it.skipIf(skip)("a value the database refuses past the checks costs that event alone", async () => {
    const [a, b, c] = chain("iso", 3) as [AuditEvent, AuditEvent, AuditEvent];
    // Past the schema check (called on the store directly): the database refuses the NUL.
    const refused = { ...b, session: "x\u0000y" };
    const candidates = [a, refused, c].map((event) => ({ event, body: canonicalBody(event) }));
    const results = await appendIsolating(store, "iso", candidates, []);
    expect(results.get(a.id)).toEqual({ status: "accepted" });
    expect(results.get(c.id)).toEqual({ status: "accepted" });
    const rejected = results.get(b.id) as { status: string; errors: string[] };
    expect(rejected.status).toBe("rejected");
    expect(rejected.errors[0]).toMatch(/the store refused this event/);
    expect((await store.verify("iso")).events).toBe(2);
  });
});
