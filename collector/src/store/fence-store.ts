import type { Db } from "./db.ts";

/**
 * Fencing tokens and the state written under them, where they survive what Redis may lose. A token
 * is drawn (never twice, whatever happens to Redis), then granted once the lease was taken with it:
 * from then on a write under an older token is refused, here, in the durable store.
 */
export interface FenceStore {
  /** A new token, above every one handed out before. */
  draw(): Promise<number>;
  /** Records that the lease was taken with `token`; false when a newer one was granted meanwhile. */
  grant(token: number): Promise<boolean>;
  /** The newest token a lease was granted with (0: none yet). */
  granted(): Promise<number>;
  /** Sets `key` under `token`; refused (false) when a newer token was granted or wrote the key. */
  set(key: string, value: string, token: number): Promise<boolean>;
  get(key: string): Promise<{ value: string; token: number } | undefined>;
}

/** The fence in PostgreSQL or PGlite (migration 5): the same SQL on both. */
export class DbFenceStore implements FenceStore {
  readonly #db: Db;
  readonly #name: string;

  constructor(db: Db, name = "controller") {
    this.#db = db;
    this.#name = name;
  }

  async draw(): Promise<number> {
    const { rows } = await this.#db.query<{ drawn: string }>(
      `INSERT INTO fencing (name, drawn) VALUES ($1, 1)
       ON CONFLICT (name) DO UPDATE SET drawn = fencing.drawn + 1
       RETURNING drawn`,
      [this.#name],
    );
    return Number(rows[0]?.drawn);
  }

  async grant(token: number): Promise<boolean> {
    const { rows } = await this.#db.query<{ granted: string }>(
      `UPDATE fencing SET granted = GREATEST(granted, $2) WHERE name = $1 AND drawn >= $2 RETURNING granted`,
      [this.#name, token],
    );
    return rows.length === 1 && Number(rows[0]?.granted) === token;
  }

  async granted(): Promise<number> {
    const { rows } = await this.#db.query<{ granted: string }>(
      "SELECT granted FROM fencing WHERE name = $1",
      [this.#name],
    );
    return Number(rows[0]?.granted ?? 0);
  }

  async set(key: string, value: string, token: number): Promise<boolean> {
    // One statement: the granted token is read with a share lock, so a grant racing with this write
    // waits for it (or this write sees the grant); the row's own token is checked on its latest
    // version by ON CONFLICT.
    const { rows } = await this.#db.query(
      `WITH fence AS (SELECT granted FROM fencing WHERE name = $4 FOR SHARE)
       INSERT INTO fenced_state (key, value, token)
       SELECT $1, $2, $3 WHERE $3 >= COALESCE((SELECT granted FROM fence), 0)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, token = EXCLUDED.token, updated_at = now()
         WHERE fenced_state.token <= EXCLUDED.token
       RETURNING token`,
      [key, value, token, this.#name],
    );
    return rows.length === 1;
  }

  async get(key: string): Promise<{ value: string; token: number } | undefined> {
    const { rows } = await this.#db.query<{ value: string; token: string }>(
      "SELECT value, token FROM fenced_state WHERE key = $1",
      [key],
    );
    const row = rows[0];
    return row ? { value: row.value, token: Number(row.token) } : undefined;
  }
}

/**
 * In-process, for the controller's and router's unit tests and tools with no database: the same
 * rules as DbFenceStore (fence-store.test.ts runs one contract on the three).
 */
export function memoryFenceStore(): FenceStore {
  let drawn = 0;
  let granted = 0;
  const state = new Map<string, { value: string; token: number }>();
  return {
    async draw() {
      return ++drawn;
    },
    async grant(token) {
      if (token > drawn) return false;
      granted = Math.max(granted, token);
      return granted === token;
    },
    async granted() {
      return granted;
    },
    async set(key, value, token) {
      if (token < granted || token < (state.get(key)?.token ?? 0)) return false;
      state.set(key, { value, token });
      return true;
    },
    async get(key) {
      return state.get(key);
    },
  };
}
