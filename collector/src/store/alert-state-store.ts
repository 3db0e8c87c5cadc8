import type { Db } from "./db.ts";

/** The fencing row (table fencing) whose token guards the alert state. */
export const ALERTS_FENCE = "alerts";

/**
 * The collector's alert state across restarts (alerts/state.ts says what it holds): JSON values by
 * key, written as changes (set and deleted keys) under the alerts lease's fencing token. A write
 * under a token older than the newest one granted is refused whole: a replica that lost the lease
 * (paused, partitioned) cannot overwrite what the new leader wrote.
 */
export interface AlertStateStore {
  load(): Promise<Map<string, unknown>>;
  /** Applies the changes in one transaction; false (nothing written) when fenced off. */
  save(set: ReadonlyMap<string, unknown>, deleted: readonly string[], token: number): Promise<boolean>;
}

/** On PostgreSQL or PGlite (migration 8): the same SQL on both. */
export class DbAlertStateStore implements AlertStateStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async load(): Promise<Map<string, unknown>> {
    const { rows } = await this.#db.query<{ key: string; state: unknown }>(
      "SELECT key, state FROM alert_state ORDER BY key",
    );
    return new Map(rows.map((r) => [r.key, typeof r.state === "string" ? JSON.parse(r.state) : r.state]));
  }

  async save(set: ReadonlyMap<string, unknown>, deleted: readonly string[], token: number): Promise<boolean> {
    if (set.size === 0 && deleted.length === 0) return true;
    return this.#db.transaction(async (tx) => {
      // The granted token read with a share lock: a grant racing with this write waits for it.
      const { rows } = await tx.query<{ granted: string }>(
        "SELECT granted FROM fencing WHERE name = $1 FOR SHARE",
        [ALERTS_FENCE],
      );
      if (token < Number(rows[0]?.granted ?? 0)) return false;
      if (deleted.length > 0)
        await tx.query("DELETE FROM alert_state WHERE key = ANY($1::text[])", [[...deleted]]);
      if (set.size > 0)
        await tx.query(
          `INSERT INTO alert_state (key, state, token)
           SELECT x.key, x.state, $2 FROM jsonb_to_recordset($1::jsonb) AS x(key text, state jsonb)
           ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, token = EXCLUDED.token, updated_at = now()`,
          [JSON.stringify([...set].map(([key, state]) => ({ key, state }))), token],
        );
      return true;
    });
  }
}

/** In-process (unit tests, and a collector given no store): the same rules without a fence. */
export function memoryAlertStateStore(): AlertStateStore & { rows: Map<string, string> } {
  const rows = new Map<string, string>();
  return {
    rows,
    async load() {
      return new Map([...rows].map(([k, v]) => [k, JSON.parse(v)]));
    },
    async save(set, deleted) {
      for (const key of deleted) rows.delete(key);
      for (const [key, value] of set) rows.set(key, JSON.stringify(value));
      return true;
    },
  };
}
