import { createHash } from "node:crypto";
import { ClawguardError } from "@clawguard/shared/errors";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import {
  type HistoryEntry,
  MEMORY_CHANGED,
  type MemoryChange,
  type MemoryVersion,
  memoryVersionOf,
} from "@clawguard/shared/events/memory-version";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { Db, Queryable } from "./db.ts";

// The text form `history` writes into its cursors; anything else is not one of ours.
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export interface HistoryQuery {
  path: string;
  agent?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

/**
 * Inside the ingest transaction: one `memory_versions` row per new `memory.changed` event, so a
 * version exists exactly when its event does. Events with bad attrs were refused before this.
 */
export async function insertMemoryVersions(tx: Queryable, events: readonly AuditEvent[]): Promise<void> {
  const versions: MemoryVersion[] = [];
  for (const event of events) {
    if (event.type !== MEMORY_CHANGED) continue;
    const parsed = memoryVersionOf(event);
    if (parsed.ok) versions.push(parsed.value);
  }
  if (versions.length === 0) return;
  const col = <K extends keyof MemoryVersion>(key: K) => versions.map((v) => v[key]);
  await tx.query(
    `INSERT INTO memory_versions (event_id, agent, path, time, sha256, size, change)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::bigint[], $7::text[])
     ON CONFLICT (event_id) DO NOTHING`,
    [col("event_id"), col("agent"), col("path"), col("time"), col("sha256"), col("size"), col("change")],
  );
}

export function sha256Hex(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/** Memory file contents, stored once per sha256, and the history of versions per path. */
export class MemoryStore {
  readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  /**
   * Stores `content` under `sha256` for `agent` (once per content, whoever uploads it); true when
   * `agent` had not uploaded it before, whether or not another agent had: the answer says nothing
   * about other agents' content. Content that does not hash to `sha256` is refused: a blob is always
   * what its name says.
   */
  async putBlob(sha256: string, content: Uint8Array, agent: string): Promise<boolean> {
    const actual = sha256Hex(content);
    if (actual !== sha256) {
      throw new ClawguardError(
        "input.invalid",
        `body does not match its name: the URL says sha256 ${sha256}, the ${content.length} bytes sent hash to ${actual}`,
        { details: { expected: sha256, actual } },
      );
    }
    // One statement, not a transaction of two: the content (up to ingest.bodyLimitBytes) is in
    // flight while the server waits, and a transaction waiting that long counts as idle in it.
    const { rows } = await this.db.query<{ sha256: string }>(
      `WITH blob AS (
         INSERT INTO memory_blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING
       )
       INSERT INTO memory_blob_owners (sha256, agent) VALUES ($1, $4)
       ON CONFLICT (sha256, agent) DO NOTHING RETURNING sha256`,
      [sha256, content.length, Buffer.from(content.buffer, content.byteOffset, content.length), agent],
    );
    return rows.length === 1;
  }

  /**
   * Deletes content no version names that was stored more than `olderThanMs` ago (its event never
   * came: the sidecar died between the upload and the event). Young content is kept: its event
   * may still be on its way. Returns how many were deleted.
   */
  async sweepOrphanBlobs(olderThanMs: number): Promise<number> {
    const { rows } = await this.db.query<{ n: string | number }>(
      `WITH gone AS (
         DELETE FROM memory_blobs b
         WHERE b.created_at < now() - make_interval(secs => $1::double precision / 1000)
           AND NOT EXISTS (SELECT 1 FROM memory_versions v WHERE v.sha256 = b.sha256)
         RETURNING 1)
       SELECT count(*) AS n FROM gone`,
      [olderThanMs],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The stored size of a blob, or null when it is not there; with `agent`, null too unless that
   * agent uploaded it (absent and another's look the same).
   */
  async blobSize(sha256: string, agent?: string): Promise<number | null> {
    const { rows } = await this.db.query<{ size: string | number }>(
      agent === undefined
        ? "SELECT size FROM memory_blobs WHERE sha256 = $1"
        : `SELECT b.size FROM memory_blobs b JOIN memory_blob_owners o ON o.sha256 = b.sha256
           WHERE b.sha256 = $1 AND o.agent = $2`,
      agent === undefined ? [sha256] : [sha256, agent],
    );
    return rows[0] ? Number(rows[0].size) : null;
  }

  /** The content of a blob (a view on what the driver read, not a copy), or null. */
  async getBlob(sha256: string): Promise<Uint8Array<ArrayBuffer> | null> {
    const { rows } = await this.db.query<{ content: Uint8Array }>(
      "SELECT content FROM memory_blobs WHERE sha256 = $1",
      [sha256],
    );
    const content = rows[0]?.content;
    // pg gives a Buffer, PGlite a Uint8Array: both over a plain ArrayBuffer.
    return content
      ? new Uint8Array(content.buffer as ArrayBuffer, content.byteOffset, content.byteLength)
      : null;
  }

  /** Versions of one path (across agents unless `agent` is given), newest first, cursor-paged. */
  async history(q: HistoryQuery): Promise<{ versions: HistoryEntry[]; next_cursor: string | null }> {
    const params: unknown[] = [q.path];
    const where = ["v.path = $1"];
    if (q.agent) {
      params.push(q.agent);
      where.push(`v.agent = $${params.length}`);
    }
    if (q.cursor) {
      const [time, id] = decodeCursor(q.cursor, (t) => CURSOR_TIME.test(t));
      params.push(time, id);
      where.push(`(v.time, v.event_id) < ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(q.limit + 1);
    const { rows } = await this.db.query<{
      event_id: string;
      agent: string;
      path: string;
      time: Date | string;
      t: string;
      sha256: string | null;
      size: string | number;
      change: MemoryChange;
      blob: boolean;
    }>(
      `SELECT v.event_id, v.agent, v.path, v.time, v.sha256, v.size, v.change,
         to_char(v.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t,
         EXISTS (SELECT 1 FROM memory_blobs b WHERE b.sha256 = v.sha256) AS blob
       FROM memory_versions v WHERE ${where.join(" AND ")}
       ORDER BY v.time DESC, v.event_id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      versions: page.map((r) => ({
        event_id: r.event_id,
        agent: r.agent,
        path: r.path,
        time: new Date(r.time).toISOString(),
        sha256: r.sha256,
        size: Number(r.size),
        change: r.change,
        blob: r.blob,
      })),
      next_cursor: rows.length > q.limit && last ? encodeCursor(last.t, last.event_id) : null,
    };
  }
}
