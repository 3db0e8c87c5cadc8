import { ulid } from "@clawguard/shared/ids";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { Db, Queryable } from "./db.ts";
import type { FleetState, Transition } from "./liveness/index.ts";

/** States that open an incident (when none is open). Healthy resolves it; unknown only adds to it. */
const BAD: ReadonlySet<FleetState> = new Set(["unhealthy", "degraded", "stale"]);
/** The latest entries of each incident's timeline that a listing returns (`events` counts them all). */
export const TIMELINE_MAX = 100;
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** opened, changed, resolved: the agent's state changes; action: what the controller did to it. */
export type IncidentEventKind = "opened" | "changed" | "resolved" | "action";

export interface IncidentEvent {
  at: string;
  kind: IncidentEventKind;
  /** An action's: the agent's state when it was recorded (both the same). */
  fromState: FleetState | null;
  toState: FleetState;
  reasons: string[];
  /**
   * opened/changed: how many reports of the same state it stands for (1: just the change); `reasons`
   * are then those of the last report (a 503 body's request id, a command's output change each time).
   */
  repeats?: number;
  /** When the last of those reports came (repeats > 1 only). */
  lastAt?: string;
  /** kind "action" only: what was done (restart, fence, ...), in words, under which fencing token. */
  action?: string;
  detail?: string;
  token?: number;
}

/** Something the failover controller did to an agent, or why it held (see `note`). */
export interface ActionNote {
  /** A short name: restart, fence, standby-started, route-switched, hold, ... */
  action: string;
  /** What a person reads: what was done and why, or what to do. */
  detail: string;
  /** The fencing token it was done under. */
  token: number;
  at: string;
}

export interface Incident {
  id: string;
  agent: string;
  open: boolean;
  openedAt: string;
  resolvedAt: string | null;
  /** The latest bad state (and its reasons) of the incident. */
  state: FleetState;
  reasons: string[];
  /** How many timeline entries there are; `timeline` holds the latest TIMELINE_MAX, oldest first. */
  events: number;
  timeline: IncidentEvent[];
}

export interface IncidentQuery {
  agent?: string | undefined;
  open?: boolean | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** What `record` did: nothing (an old or repeated transition), or which incident it touched. */
export type RecordOutcome =
  | { applied: false }
  | { applied: true; incident: string | null; kind: IncidentEventKind | null };

const iso = (t: Date | string) => new Date(t).toISOString();

async function addEvent(
  tx: Queryable,
  incident: string,
  seq: number,
  t: Transition,
  kind: IncidentEventKind,
  from: FleetState | null,
): Promise<void> {
  await tx.query(
    `INSERT INTO incident_events (incident_id, seq, at, kind, from_state, to_state, reasons, rev)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
    [incident, seq, t.at, kind, from, t.state, JSON.stringify(t.reasons), t.rev],
  );
}

/**
 * The same state reported again, whatever its reasons say this time (a running count, a request id
 * in a 503 body, a command's changing output): counted on the entry that recorded the change, which
 * keeps the latest reasons and when they came; no new entry. Only a change of state adds one.
 */
async function repeatLast(tx: Queryable, incident: string, t: Transition): Promise<boolean> {
  const reasons = JSON.stringify(t.reasons);
  const { rows } = await tx.query(
    `UPDATE incident_events SET repeats = repeats + 1, reasons = $3::jsonb,
       last_at = GREATEST(at, COALESCE(last_at, at), $2::timestamptz)
     WHERE incident_id = $1
       AND seq = (SELECT max(seq) FROM incident_events WHERE incident_id = $1 AND kind <> 'action')
     RETURNING seq`,
    [incident, t.at, reasons],
  );
  // An incident holding only actions so far has no entry to count on: the caller adds one.
  if (rows.length === 0) return false;
  await tx.query("UPDATE incidents SET reasons = $2::jsonb WHERE id = $1", [incident, reasons]);
  return true;
}

/**
 * Whether `t` ends the open incident: the agent is healthy, or back to unknown when unknown is
 * where it came from (a sidecar with no probes never reports healthy: its incident, a duplicate
 * name or a spell of staleness, ends when it is back to its usual unknown).
 */
async function resolves(tx: Queryable, incident: string, t: Transition): Promise<boolean> {
  if (t.state === "healthy") return true;
  if (t.state !== "unknown") return false;
  const { rows } = await tx.query<{ from_state: FleetState | null }>(
    "SELECT from_state FROM incident_events WHERE incident_id = $1 AND seq = 1",
    [incident],
  );
  return rows[0]?.from_state === "unknown";
}

/**
 * Incidents in PostgreSQL (or PGlite). Each transition is applied in one transaction holding the
 * agent's `agent_states` row (SELECT ... FOR UPDATE), and only when its revision is newer than the
 * last one applied: the same transition delivered twice, or by two replicas at once, is applied
 * once, and an older one arriving late changes nothing. The partial unique index on open incidents
 * backs this up.
 */
export class IncidentStore {
  readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async record(t: Transition): Promise<RecordOutcome> {
    return this.db.transaction(async (tx) => {
      await tx.query("INSERT INTO agent_states (agent, rev) VALUES ($1, 0) ON CONFLICT (agent) DO NOTHING", [
        t.agent,
      ]);
      const { rows } = await tx.query<{ state: FleetState | null; reasons: string[]; rev: string | number }>(
        "SELECT state, reasons, rev FROM agent_states WHERE agent = $1 FOR UPDATE",
        [t.agent],
      );
      const current = rows[0] as { state: FleetState | null; reasons: string[]; rev: string | number };
      if (Number(current.rev) >= t.rev) return { applied: false };
      await tx.query(
        `UPDATE agent_states SET rev = $2, state = $3, reasons = $4::jsonb, updated_at = now(),
           changed_at = CASE WHEN state IS DISTINCT FROM $3 THEN $5::timestamptz ELSE changed_at END
         WHERE agent = $1`,
        [t.agent, t.rev, t.state, JSON.stringify(t.reasons), t.at],
      );
      const from = current.state;
      if (from === t.state && JSON.stringify(current.reasons) === JSON.stringify(t.reasons))
        return { applied: true, incident: null, kind: null };
      const open = await tx.query<{ id: string; events: number }>(
        "SELECT id, events FROM incidents WHERE agent = $1 AND resolved_at IS NULL FOR UPDATE",
        [t.agent],
      );
      const incident = open.rows[0];
      if (incident && from === t.state && (await repeatLast(tx, incident.id, t)))
        return { applied: true, incident: incident.id, kind: null };
      if (!incident) {
        if (!BAD.has(t.state)) return { applied: true, incident: null, kind: null };
        const id = ulid(Date.parse(t.at));
        await tx.query(
          `INSERT INTO incidents (id, agent, opened_at, state, reasons, events)
           VALUES ($1, $2, $3, $4, $5::jsonb, 1)`,
          [id, t.agent, t.at, t.state, JSON.stringify(t.reasons)],
        );
        await addEvent(tx, id, 1, t, "opened", from);
        return { applied: true, incident: id, kind: "opened" };
      }
      const seq = Number(incident.events) + 1;
      const kind: IncidentEventKind = (await resolves(tx, incident.id, t)) ? "resolved" : "changed";
      if (kind === "resolved") {
        // Never before it opened, whatever the replicas' clocks say.
        await tx.query(
          "UPDATE incidents SET events = $2, resolved_at = GREATEST(opened_at, $3::timestamptz) WHERE id = $1",
          [incident.id, seq, t.at],
        );
      } else {
        await tx.query("UPDATE incidents SET events = $2, state = $3, reasons = $4::jsonb WHERE id = $1", [
          incident.id,
          seq,
          t.state,
          JSON.stringify(t.reasons),
        ]);
      }
      await addEvent(tx, incident.id, seq, t, kind, from);
      return { applied: true, incident: incident.id, kind };
    });
  }

  /**
   * Adds a controller action to the agent's open incident, opening one when none is (an action on
   * an agent that looks healthy still deserves a record; it resolves with the agent's next change
   * to healthy). Serialized with `record` on the agent's `agent_states` row.
   */
  async note(agent: string, n: ActionNote): Promise<{ incident: string; opened: boolean }> {
    return this.db.transaction(async (tx) => {
      await tx.query("INSERT INTO agent_states (agent, rev) VALUES ($1, 0) ON CONFLICT (agent) DO NOTHING", [
        agent,
      ]);
      const { rows } = await tx.query<{ state: FleetState | null; reasons: string[]; rev: string | number }>(
        "SELECT state, reasons, rev FROM agent_states WHERE agent = $1 FOR UPDATE",
        [agent],
      );
      const current = rows[0] as { state: FleetState | null; reasons: string[]; rev: string | number };
      const state = current.state ?? "unknown";
      const open = await tx.query<{ id: string; events: number }>(
        "SELECT id, events FROM incidents WHERE agent = $1 AND resolved_at IS NULL FOR UPDATE",
        [agent],
      );
      let incident = open.rows[0];
      const opened = !incident;
      if (!incident) {
        incident = { id: ulid(Date.parse(n.at)), events: 0 };
        const bad = BAD.has(state);
        await tx.query(
          `INSERT INTO incidents (id, agent, opened_at, state, reasons, events)
           VALUES ($1, $2, $3, $4, $5::jsonb, 1)`,
          [incident.id, agent, n.at, bad ? state : "unknown", JSON.stringify(bad ? current.reasons : [])],
        );
      } else {
        await tx.query("UPDATE incidents SET events = events + 1 WHERE id = $1", [incident.id]);
      }
      await tx.query(
        `INSERT INTO incident_events (incident_id, seq, at, kind, from_state, to_state, reasons, rev, action, detail, token)
         VALUES ($1, $2, $3, 'action', $4, $4, '[]'::jsonb, $5, $6, $7, $8)`,
        [incident.id, Number(incident.events) + 1, n.at, state, current.rev, n.action, n.detail, n.token],
      );
      return { incident: incident.id, opened };
    });
  }

  /**
   * Every agent whose state was ever recorded, with its last recorded state and when: durable, so
   * the fleet still knows an agent whose liveness record Redis lost.
   */
  async states(): Promise<{ agent: string; state: FleetState | null; updatedAt: string }[]> {
    const { rows } = await this.db.query<{
      agent: string;
      state: FleetState | null;
      updated_at: Date | string;
    }>("SELECT agent, state, updated_at FROM agent_states ORDER BY agent");
    return rows.map((r) => ({
      agent: r.agent,
      state: r.state,
      updatedAt: new Date(r.updated_at).toISOString(),
    }));
  }

  /** Incidents newest first (by when they opened), each with its timeline; cursor-paged. */
  async list(q: IncidentQuery): Promise<{ incidents: Incident[]; next_cursor: string | null }> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (q.agent) {
      params.push(q.agent);
      where.push(`agent = $${params.length}`);
    }
    if (q.open !== undefined) where.push(q.open ? "resolved_at IS NULL" : "resolved_at IS NOT NULL");
    if (q.cursor) {
      const [time, id] = decodeCursor(q.cursor, (t) => CURSOR_TIME.test(t));
      params.push(time, id);
      where.push(`(opened_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(q.limit + 1);
    const { rows } = await this.db.query<{
      id: string;
      agent: string;
      opened_at: Date | string;
      resolved_at: Date | string | null;
      state: FleetState;
      reasons: string[];
      events: number;
      t: string;
    }>(
      `SELECT id, agent, opened_at, resolved_at, state, reasons, events,
         to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t
       FROM incidents ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY opened_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, q.limit);
    const timelines = await this.#timelines(page.map((r) => r.id));
    const last = page.at(-1);
    return {
      incidents: page.map((r) => ({
        id: r.id,
        agent: r.agent,
        open: r.resolved_at === null,
        openedAt: iso(r.opened_at),
        resolvedAt: r.resolved_at === null ? null : iso(r.resolved_at),
        state: r.state,
        reasons: r.reasons,
        events: Number(r.events),
        timeline: timelines.get(r.id) ?? [],
      })),
      next_cursor: rows.length > q.limit && last ? encodeCursor(last.t, last.id) : null,
    };
  }

  async #timelines(ids: string[]): Promise<Map<string, IncidentEvent[]>> {
    const out = new Map<string, IncidentEvent[]>();
    if (ids.length === 0) return out;
    const { rows } = await this.db.query<{
      incident_id: string;
      at: Date | string;
      kind: IncidentEventKind;
      from_state: FleetState | null;
      to_state: FleetState;
      reasons: string[];
      action: string | null;
      detail: string | null;
      token: string | number | null;
      repeats: number;
      last_at: Date | string | null;
    }>(
      `SELECT e.incident_id, e.at, e.kind, e.from_state, e.to_state, e.reasons, e.action, e.detail, e.token,
         e.repeats, e.last_at
       FROM unnest($1::text[]) AS i (id)
       CROSS JOIN LATERAL (
         SELECT * FROM incident_events WHERE incident_id = i.id ORDER BY seq DESC LIMIT $2
       ) e
       ORDER BY e.incident_id, e.seq`,
      [ids, TIMELINE_MAX],
    );
    for (const r of rows) {
      const list = out.get(r.incident_id) ?? [];
      list.push({
        at: iso(r.at),
        kind: r.kind,
        fromState: r.from_state,
        toState: r.to_state,
        reasons: r.reasons,
        ...(Number(r.repeats) > 1 ? { repeats: Number(r.repeats), lastAt: iso(r.last_at ?? r.at) } : {}),
        ...(r.kind === "action"
          ? { action: r.action as string, detail: r.detail as string, token: Number(r.token) }
          : {}),
      });
      out.set(r.incident_id, list);
    }
    return out;
  }
}
