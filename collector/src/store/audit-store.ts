import { createHash } from "node:crypto";
import { type ChainHead, canonicalJson, GENESIS_HASH, sealEvent } from "@clawguard/shared/chain";
import {
  type AuditEvent,
  draftEvent,
  type EventDraft,
  type EventSource,
} from "@clawguard/shared/events/envelope";
import { decodeCursor, encodeCursor } from "./cursor.ts";

/** How PostgreSQL writes a timestamptz as text (what cursors carry): anything else is forged. */
const PG_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

import type { Db, Queryable } from "./db.ts";
import { foldFindings } from "./findings.ts";
import { insertMemoryVersions } from "./memory-store.ts";

/** What the chain check found wrong; each becomes an `audit.integrity` event from the collector. */
export type IntegrityKind =
  | "gap"
  | "broken_link"
  | "hash_mismatch"
  | "seq_conflict"
  | "conflicting_duplicate"
  | "clock_backwards"
  | "seal_missing"
  | "seal_unknown_key"
  | "seal_mismatch";

export interface IntegrityFinding {
  agent: string;
  kind: IntegrityKind;
  seq: number;
  event_id?: string;
  /** For a gap: the missing seqs, inclusive. */
  missing_from?: number;
  missing_to?: number;
  /** A run of consecutive events with the same finding (see foldFindings): its last seq, count and first ids. */
  last_seq?: number;
  count?: number;
  event_ids?: string[];
  detail: string;
}

/** An event that passed schema and hash checks, with the canonical body its hash covers. */
export interface Candidate {
  event: AuditEvent;
  body: string;
}

export type IngestStatus = { status: "accepted" | "duplicate" } | { status: "rejected"; errors: string[] };

export interface AuditQuery {
  agent?: string | undefined;
  session?: string | undefined;
  /** Exact type, or a prefix ending in `.*` (e.g. `exec.*`). */
  type?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  /**
   * Which clock since/until and the order use: "agent" (default), the event's own time, as the
   * agent's clock said; "collector", when the collector stored it (received_at).
   */
  clock?: "agent" | "collector" | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** How far an agent's time may go back between two consecutive events of its chain before it is a finding. */
export const DEFAULT_BACKWARDS_TOLERANCE_MS = 60_000;

export interface Verification {
  agent: string;
  ok: boolean;
  events: number;
  first_seq: number | null;
  last_seq: number | null;
  head: ChainHead | null;
  problems: { seq: number; kind: string; detail: string }[];
  /** audit.integrity events the collector recorded for this agent at ingest. */
  recorded_integrity_events: number;
}

export const COLLECTOR_AGENT = "_collector";
const MAX_PROBLEMS = 100;

/** The canonical body an event's hash is computed over: the event without `hash` and `seal`. */
export function canonicalBody(event: AuditEvent): string {
  const { hash: _hash, seal: _seal, ...rest } = event;
  return canonicalJson(rest);
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

async function lockHead(tx: Queryable, agent: string): Promise<ChainHead> {
  await tx.query(
    "INSERT INTO chain_heads (agent, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (agent) DO NOTHING",
    [agent, GENESIS_HASH],
  );
  const { rows } = await tx.query<{ seq: string | number; hash: string }>(
    "SELECT seq, hash FROM chain_heads WHERE agent = $1 FOR UPDATE",
    [agent],
  );
  const row = rows[0] as { seq: string | number; hash: string };
  return { seq: Number(row.seq), hash: row.hash };
}

/**
 * One statement for the batch, its rows as one JSON parameter: JSON.stringify writes it natively,
 * where ten text[] parameters had the driver escape every element in JavaScript.
 */
async function insertEvents(tx: Queryable, rows: Candidate[]): Promise<void> {
  if (rows.length === 0) return;
  const json = JSON.stringify(
    rows.map(({ event, body }) => ({
      id: event.id,
      agent: event.source.agent,
      seq: event.seq,
      time: event.time,
      type: event.type,
      severity: event.severity,
      session: event.session ?? null,
      hash: event.hash,
      prev_hash: event.prev_hash,
      body,
      seal_kid: event.seal?.kid ?? null,
      seal_mac: event.seal?.mac ?? null,
    })),
  );
  await tx.query(
    `INSERT INTO audit_events (id, agent, seq, time, type, severity, session, hash, prev_hash, body, seal_kid, seal_mac)
     SELECT id, agent, seq, time, type, severity, session, hash, prev_hash, body, seal_kid, seal_mac
     FROM json_to_recordset($1::json) AS r(id text, agent text, seq bigint, time timestamptz, type text,
       severity text, session text, hash text, prev_hash text, body text, seal_kid text, seal_mac text)`,
    [json],
  );
}

/**
 * For an event behind the chain head: undefined when its seq is taken; else how it fails to link
 * with its stored (or same-batch) neighbours, empty when it fits the gap exactly.
 */
async function gapLinks(
  tx: Queryable,
  agent: string,
  event: AuditEvent,
  batch: Map<number, AuditEvent>,
): Promise<string[] | undefined> {
  const { rows } = await tx.query<{ seq: string | number; hash: string; prev_hash: string }>(
    "SELECT seq, hash, prev_hash FROM audit_events WHERE agent = $1 AND seq BETWEEN $2 AND $3",
    [agent, event.seq - 1, event.seq + 1],
  );
  const at = (seq: number) => batch.get(seq) ?? rows.find((r) => Number(r.seq) === seq);
  if (at(event.seq)) return undefined;
  const problems: string[] = [];
  const before = event.seq === 1 ? { hash: GENESIS_HASH } : at(event.seq - 1);
  if (before && before.hash !== event.prev_hash)
    problems.push(`prev_hash of late seq ${event.seq} does not match the hash of seq ${event.seq - 1}`);
  const after = at(event.seq + 1);
  if (after && after.prev_hash !== event.hash)
    problems.push(`late seq ${event.seq} does not hash to the prev_hash of seq ${event.seq + 1}`);
  return problems;
}

/** Agents whose last run of seq conflicts is remembered (past it, the memory starts afresh). */
const MAX_CONFLICT_RUNS = 10_000;

/**
 * The run of seq conflicts `found` holds for `agent`, with whether it only goes on with the run
 * last recorded (its first seq right after that one's last): a second sidecar under the agent's
 * name ships its events a batch at a time, each refused (kept in its dead-letter file), and the
 * run is one finding, not one per batch.
 */
function conflictRun(
  found: readonly IntegrityFinding[],
  last: number | undefined,
): { last: number; continued: IntegrityFinding | undefined } | undefined {
  const conflicts = found.filter((f) => f.kind === "seq_conflict");
  const first = conflicts[0];
  if (first === undefined) return undefined;
  return {
    last: Math.max(...conflicts.map((f) => f.last_seq ?? f.seq)),
    continued: last !== undefined && first.seq === last + 1 ? first : undefined,
  };
}

/** An event as verify reads it back. */
interface StoredRow {
  id: string;
  seq: string | number;
  hash: string;
  prev_hash: string;
  body: string;
}

/** verify's checks of one stored event: its hash, its columns against its body, its link to `prev`. */
function checkStored(
  row: StoredRow,
  seq: number,
  prev: ChainHead,
  problem: (seq: number, kind: string, detail: string) => void,
): void {
  if (sha256(row.body) !== row.hash)
    problem(seq, "hash_mismatch", `stored event ${row.id} does not hash to its recorded hash`);
  let body: Partial<AuditEvent> = {};
  try {
    body = JSON.parse(row.body) as Partial<AuditEvent>;
  } catch {
    problem(seq, "unreadable", `stored event ${row.id} is not JSON`);
  }
  if (body.seq !== seq || body.prev_hash !== row.prev_hash || body.id !== row.id) {
    problem(seq, "altered", `columns of ${row.id} disagree with its hashed body`);
  }
  if (seq !== prev.seq + 1) problem(seq, "gap", `seq ${prev.seq + 1}..${seq - 1} missing`);
  else if (row.prev_hash !== prev.hash)
    problem(seq, "broken_link", `prev_hash does not match seq ${prev.seq}`);
}

/** One append's progress inside its transaction, as its steps pass it along. */
interface Batch {
  agent: string;
  /** What the append found, recorded with it. */
  found: IntegrityFinding[];
  results: Map<string, IngestStatus>;
  /** Hash by id of the events stored, and of those accepted so far. */
  known: Map<string, string>;
  /** The candidates accepted, to insert, and their events by seq. */
  fresh: Candidate[];
  freshBySeq: Map<number, AuditEvent>;
  /** The chain's head once the events accepted so far are on it. */
  head: ChainHead;
}

/**
 * One candidate, in seq order: a duplicate, rejected (stored with another hash, or its seq is
 * taken), or accepted (filling a gap behind the head, or on the head) with what it shows.
 */
async function admit(
  tx: Queryable,
  b: Batch,
  candidate: Candidate,
  clock: (event: AuditEvent) => void,
): Promise<void> {
  const { event } = candidate;
  const { agent, found, results, head } = b;
  const storedHash = b.known.get(event.id);
  if (storedHash !== undefined) {
    if (storedHash === event.hash) results.set(event.id, { status: "duplicate" });
    else {
      const detail = `event ${event.id} was already stored with a different hash`;
      found.push({ agent, kind: "conflicting_duplicate", seq: event.seq, event_id: event.id, detail });
      results.set(event.id, { status: "rejected", errors: [detail] });
    }
    return;
  }
  if (event.seq <= head.seq) {
    // Behind the head: either it fills a gap recorded earlier (late, not lost), or its seq
    // is taken (a replayed or forked chain).
    const links = await gapLinks(tx, agent, event, b.freshBySeq);
    if (links === undefined) {
      const detail = `seq ${event.seq} of ${agent} is already taken (chain head is ${head.seq}): a replayed or forked chain`;
      found.push({ agent, kind: "seq_conflict", seq: event.seq, event_id: event.id, detail });
      results.set(event.id, { status: "rejected", errors: [detail] });
      return;
    }
    for (const detail of links)
      found.push({ agent, kind: "broken_link", seq: event.seq, event_id: event.id, detail });
    accept(b, candidate);
    return;
  }
  if (event.seq > head.seq + 1) {
    found.push({
      agent,
      kind: "gap",
      seq: event.seq,
      event_id: event.id,
      missing_from: head.seq + 1,
      missing_to: event.seq - 1,
      detail: `events ${head.seq + 1}..${event.seq - 1} of ${agent} never arrived`,
    });
  } else if (event.prev_hash !== head.hash) {
    found.push({
      agent,
      kind: "broken_link",
      seq: event.seq,
      event_id: event.id,
      detail: `prev_hash of seq ${event.seq} does not match the hash of seq ${head.seq}`,
    });
  }
  clock(event);
  accept(b, candidate);
  b.head = { seq: event.seq, hash: event.hash };
}

function accept(b: Batch, candidate: Candidate): void {
  const { event } = candidate;
  b.fresh.push(candidate);
  b.freshBySeq.set(event.seq, event);
  b.known.set(event.id, event.hash);
  b.results.set(event.id, { status: "accepted" });
}

/** Inserts the accepted events (and the memory versions they carry) and moves the chain's head. */
async function storeFresh(tx: Queryable, b: Batch): Promise<void> {
  await insertEvents(tx, b.fresh);
  await insertMemoryVersions(
    tx,
    b.fresh.map((c) => c.event),
  );
  if (b.fresh.length > 0) {
    await tx.query("UPDATE chain_heads SET seq = $2, hash = $3, updated_at = now() WHERE agent = $1", [
      b.agent,
      b.head.seq,
      b.head.hash,
    ]);
  }
}

/**
 * The audit trail in PostgreSQL (or PGlite). Ingest is one transaction per batch with the source's
 * chain head locked: duplicates are recognised by id, every new event is checked against the head,
 * and what does not link up is stored as an `audit.integrity` event rather than silently accepted.
 */
export class AuditStore {
  readonly db: Db;
  readonly #source: EventSource;

  readonly #backwardsToleranceMs: number;
  /** Per agent, the last seq of its last run of seq conflicts recorded by this replica. */
  readonly #conflicts = new Map<string, number>();

  constructor(db: Db, collectorSource: EventSource, options: { backwardsToleranceMs?: number } = {}) {
    this.db = db;
    this.#source = collectorSource;
    this.#backwardsToleranceMs = options.backwardsToleranceMs ?? DEFAULT_BACKWARDS_TOLERANCE_MS;
  }

  /**
   * Appends one agent's candidates (already schema- and hash-checked). `findings` found before the
   * transaction (e.g. hash mismatches) are recorded with those found here.
   */
  async append(
    agent: string,
    candidates: Candidate[],
    findings: IntegrityFinding[] = [],
  ): Promise<Map<string, IngestStatus>> {
    const results = new Map<string, IngestStatus>();
    const sorted = [...candidates].sort((a, b) => a.event.seq - b.event.seq);
    let run: ReturnType<typeof conflictRun>;
    await this.db.transaction(async (tx) => {
      results.clear();
      const found = [...findings];
      const head = await lockHead(tx, agent);
      const clock = await this.#clockWatch(tx, agent, head.seq, found);
      const { rows } = await tx.query<{ id: string; hash: string }>(
        "SELECT id, hash FROM audit_events WHERE id = ANY($1::text[])",
        [sorted.map((c) => c.event.id)],
      );
      const batch: Batch = {
        agent,
        found,
        results,
        known: new Map(rows.map((r) => [r.id, r.hash])),
        fresh: [],
        freshBySeq: new Map(),
        head,
      };
      for (const candidate of sorted) await admit(tx, batch, candidate, clock);
      await storeFresh(tx, batch);
      let folded = foldFindings(found);
      run = conflictRun(folded, this.#conflicts.get(agent));
      if (run?.continued) folded = folded.filter((f) => f !== run?.continued);
      if (folded.length > 0)
        await this.#record(
          tx,
          folded.map((f) => this.#integrityDraft(f)),
        );
    });
    if (run) {
      if (this.#conflicts.size >= MAX_CONFLICT_RUNS && !this.#conflicts.has(agent)) this.#conflicts.clear();
      this.#conflicts.set(agent, run.last);
    }
    return results;
  }

  /**
   * Watches the agent's clock along its chain: an event whose time is earlier than the one before
   * it by more than the tolerance is stored (it is genuine) and recorded as a finding: the agent's
   * clock was stepped back, and its events' times cannot be trusted across that point.
   */
  async #clockWatch(
    tx: Queryable,
    agent: string,
    headSeq: number,
    found: IntegrityFinding[],
  ): Promise<(event: AuditEvent) => void> {
    let previous: { seq: number; at: number } | undefined;
    if (headSeq > 0) {
      const { rows } = await tx.query<{ time: Date | string }>(
        "SELECT time FROM audit_events WHERE agent = $1 AND seq = $2",
        [agent, headSeq],
      );
      if (rows[0]) previous = { seq: headSeq, at: new Date(rows[0].time).getTime() };
    }
    return (event) => {
      const at = Date.parse(event.time);
      if (previous && previous.at - at > this.#backwardsToleranceMs) {
        found.push({
          agent,
          kind: "clock_backwards",
          seq: event.seq,
          event_id: event.id,
          detail: `time of ${agent} went back ${Math.round((previous.at - at) / 1000)} s from seq ${previous.seq} to seq ${event.seq} (${new Date(previous.at).toISOString()} -> ${event.time}): its clock was stepped back; its events' times are not comparable across this point (query by clock=collector)`,
        });
      }
      previous = { seq: event.seq, at };
    };
  }

  #integrityDraft(finding: IntegrityFinding): EventDraft {
    return draftEvent({
      source: this.#source,
      type: "audit.integrity",
      severity: finding.kind === "gap" ? "error" : finding.kind === "clock_backwards" ? "warn" : "critical",
      attrs: { ...finding },
    });
  }

  /** Seals the collector's own events into its chain, inside the caller's transaction. */
  async #record(tx: Queryable, drafts: EventDraft[]): Promise<void> {
    let head = await lockHead(tx, COLLECTOR_AGENT);
    const rows: Candidate[] = [];
    for (const draft of drafts) {
      const event = sealEvent(draft, head);
      head = { seq: event.seq, hash: event.hash };
      rows.push({ event, body: canonicalBody(event) });
    }
    await insertEvents(tx, rows);
    await tx.query("UPDATE chain_heads SET seq = $2, hash = $3, updated_at = now() WHERE agent = $1", [
      COLLECTOR_AGENT,
      head.seq,
      head.hash,
    ]);
  }

  /** The collector's own events (the alerts it sent, ...), sealed into its chain like its findings. */
  async recordOwn(
    events: {
      type: string;
      severity: "info" | "warn" | "error" | "critical";
      attrs: Record<string, unknown>;
    }[],
  ): Promise<void> {
    if (events.length === 0) return;
    await this.db.transaction((tx) =>
      this.#record(
        tx,
        events.map((e) => draftEvent({ source: this.#source, ...e })),
      ),
    );
  }

  /** Records integrity findings on their own (when nothing else from the batch is stored). */
  async recordFindings(findings: IntegrityFinding[]): Promise<void> {
    if (findings.length === 0) return;
    await this.db.transaction((tx) =>
      this.#record(
        tx,
        foldFindings(findings).map((f) => this.#integrityDraft(f)),
      ),
    );
  }

  async query(q: AuditQuery): Promise<{ events: AuditEvent[]; next_cursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (q.agent) add("agent = ?", q.agent);
    if (q.session) add("session = ?", q.session);
    if (q.type?.endsWith(".*")) add("type LIKE ?", `${q.type.slice(0, -2).replace(/[\\%_]/g, "\\$&")}.%`);
    else if (q.type) add("type = ?", q.type);
    // Both names are constants, never input.
    const column = q.clock === "collector" ? "received_at" : "time";
    if (q.since) add(`${column} >= ?::timestamptz`, q.since);
    if (q.until) add(`${column} < ?::timestamptz`, q.until);
    if (q.cursor) {
      const [time, id] = decodeCursor(q.cursor, (t) => PG_TIME.test(t));
      params.push(time, id);
      where.push(`(${column}, id) > ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(q.limit + 1);
    const sql = `SELECT body, hash, seal_kid, seal_mac, id, ${column}::text AS t FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY ${column}, id LIMIT $${params.length}`;
    const { rows } = await this.db.query<{
      body: string;
      hash: string;
      seal_kid: string | null;
      seal_mac: string | null;
      id: string;
      t: string;
    }>(sql, params);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      events: page.map((r) => ({
        ...(JSON.parse(r.body) as Omit<AuditEvent, "hash">),
        hash: r.hash,
        ...(r.seal_kid && r.seal_mac ? { seal: { kid: r.seal_kid, mac: r.seal_mac } } : {}),
      })),
      next_cursor: rows.length > q.limit && last ? encodeCursor(last.t, last.id) : null,
    };
  }

  async agents(): Promise<string[]> {
    const { rows } = await this.db.query<{ agent: string }>("SELECT agent FROM chain_heads ORDER BY agent");
    return rows.map((r) => r.agent);
  }

  /** Recomputes every hash of an agent's chain and checks every link and seq. */
  async verify(agent: string): Promise<Verification> {
    const problems: Verification["problems"] = [];
    const problem = (seq: number, kind: string, detail: string) => {
      if (problems.length < MAX_PROBLEMS) problems.push({ seq, kind, detail });
    };
    let prev: ChainHead = { seq: 0, hash: GENESIS_HASH };
    let count = 0;
    let first: number | null = null;
    for (;;) {
      const { rows } = await this.db.query<StoredRow>(
        "SELECT id, seq, hash, prev_hash, body FROM audit_events WHERE agent = $1 AND seq > $2 ORDER BY seq LIMIT 5000",
        [agent, prev.seq],
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        const seq = Number(row.seq);
        first ??= seq;
        count++;
        checkStored(row, seq, prev, problem);
        prev = { seq, hash: row.hash };
      }
    }
    const heads = await this.db.query<{ seq: string | number; hash: string }>(
      "SELECT seq, hash FROM chain_heads WHERE agent = $1",
      [agent],
    );
    const headRow = heads.rows[0];
    const head = headRow ? { seq: Number(headRow.seq), hash: headRow.hash } : null;
    if (head && (head.seq !== prev.seq || head.hash !== prev.hash)) {
      problem(head.seq, "head_mismatch", `chain head says seq ${head.seq}, stored events end at ${prev.seq}`);
    }
    const recorded = await this.db.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM audit_events WHERE agent = $1 AND type = 'audit.integrity' AND (body::jsonb -> 'attrs' ->> 'agent') = $2`,
      [COLLECTOR_AGENT, agent],
    );
    return {
      agent,
      ok: problems.length === 0,
      events: count,
      first_seq: first,
      last_seq: count > 0 ? prev.seq : null,
      head,
      problems,
      recorded_integrity_events: Number(recorded.rows[0]?.n ?? 0),
    };
  }
}
