import type { Db } from "./db.ts";

/**
 * Versioned schema changes, applied in order at start, each once, under an advisory lock so that
 * several collector replicas starting together do not race. Never edit a released migration: add one.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "audit events and chain heads",
    sql: `
      CREATE TABLE audit_events (
        id          text PRIMARY KEY,
        agent       text NOT NULL,
        seq         bigint NOT NULL,
        time        timestamptz NOT NULL,
        type        text NOT NULL,
        severity    text NOT NULL,
        session     text,
        hash        text NOT NULL,
        prev_hash   text NOT NULL,
        -- The canonical JSON the hash was computed over (the event without its hash).
        body        text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX audit_events_agent_seq ON audit_events (agent, seq);
      CREATE INDEX audit_events_time ON audit_events (time, id);
      CREATE INDEX audit_events_session ON audit_events (session, time, id) WHERE session IS NOT NULL;
      CREATE INDEX audit_events_type ON audit_events (type, time, id);
      CREATE TABLE chain_heads (
        agent      text PRIMARY KEY,
        seq        bigint NOT NULL,
        hash       text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    version: 2,
    name: "memory blobs and versions",
    sql: `
      -- Memory file contents, content-addressed: each distinct content stored once.
      CREATE TABLE memory_blobs (
        sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        size       bigint NOT NULL CHECK (size >= 0),
        content    bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      -- One row per memory.changed event, written in the transaction that stores the event. The
      -- blob may arrive before or after (or never): no foreign key to memory_blobs.
      CREATE TABLE memory_versions (
        event_id text PRIMARY KEY REFERENCES audit_events (id),
        agent    text NOT NULL,
        path     text NOT NULL,
        time     timestamptz NOT NULL,
        sha256   text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        size     bigint NOT NULL CHECK (size >= 0),
        change   text NOT NULL CHECK (change IN ('created', 'modified', 'deleted')),
        CHECK ((change = 'deleted') = (sha256 IS NULL))
      );
      CREATE INDEX memory_versions_agent_path ON memory_versions (agent, path, time, event_id);
      -- Agents sharing a workspace volume write the same relative path: history by path spans them.
      CREATE INDEX memory_versions_path ON memory_versions (path, time, event_id);`,
  },
  {
    version: 3,
    name: "agent states and incidents",
    sql: `
      -- The last state change of each agent applied here, and its liveness revision: a change with
      -- a revision not above this one is old (another replica already applied it, or a newer one).
      CREATE TABLE agent_states (
        agent      text PRIMARY KEY,
        state      text CHECK (state IN ('healthy', 'degraded', 'unhealthy', 'unknown', 'stale')),
        reasons    jsonb NOT NULL DEFAULT '[]',
        rev        bigint NOT NULL,
        changed_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- Opened when an agent turns unhealthy, degraded or stale; resolved when it is healthy again.
      -- state and reasons are the latest bad ones.
      CREATE TABLE incidents (
        id          text PRIMARY KEY,
        agent       text NOT NULL,
        opened_at   timestamptz NOT NULL,
        resolved_at timestamptz,
        state       text NOT NULL CHECK (state IN ('degraded', 'unhealthy', 'unknown', 'stale')),
        reasons     jsonb NOT NULL,
        -- The number of timeline entries (the seq of the last one).
        events      int NOT NULL CHECK (events >= 1)
      );
      -- At most one open incident per agent, whatever the replicas do.
      CREATE UNIQUE INDEX incidents_one_open ON incidents (agent) WHERE resolved_at IS NULL;
      CREATE INDEX incidents_opened ON incidents (opened_at, id);
      CREATE INDEX incidents_agent ON incidents (agent, opened_at, id);
      CREATE TABLE incident_events (
        incident_id text NOT NULL REFERENCES incidents (id),
        seq         int NOT NULL,
        at          timestamptz NOT NULL,
        kind        text NOT NULL CHECK (kind IN ('opened', 'changed', 'resolved')),
        from_state  text,
        to_state    text NOT NULL,
        reasons     jsonb NOT NULL,
        rev         bigint NOT NULL,
        PRIMARY KEY (incident_id, seq)
      );`,
  },
  {
    version: 4,
    name: "controller actions in incident timelines",
    sql: `
      -- What the failover controller did to an agent (or why it held), under which fencing token.
      -- from_state and to_state of an action are the agent's state when it was recorded.
      ALTER TABLE incident_events DROP CONSTRAINT incident_events_kind_check;
      ALTER TABLE incident_events
        ADD CONSTRAINT incident_events_kind_check CHECK (kind IN ('opened', 'changed', 'resolved', 'action')),
        ADD COLUMN action text,
        ADD COLUMN detail text,
        ADD COLUMN token bigint,
        ADD CONSTRAINT incident_events_action_check
          CHECK ((kind = 'action') = (action IS NOT NULL AND detail IS NOT NULL AND token IS NOT NULL));`,
  },
  {
    version: 5,
    name: "durable fencing tokens and fenced state; repeated incident entries counted",
    sql: `
      -- The controller's fencing tokens live here, not in Redis: Redis losing its data (a restart
      -- without persistence, a failover to a lagging replica, eviction) must never hand out a token
      -- again. drawn: the last token handed out; granted: the newest one a lease was taken with.
      CREATE TABLE fencing (
        name    text PRIMARY KEY,
        drawn   bigint NOT NULL CHECK (drawn >= 1),
        granted bigint NOT NULL DEFAULT 0 CHECK (granted <= drawn)
      );
      -- Routes ("route:<group>") and the controller's memory ("group:<name>", "restart:<agent>"):
      -- written only under a token not older than the granted one nor than the row's own.
      CREATE TABLE fenced_state (
        key        text PRIMARY KEY,
        value      text NOT NULL,
        token      bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- An agent staying in the same condition (its reasons differ only by a running count, e.g.
      -- "(7 in a row)") adds no timeline entry per heartbeat: the entry that recorded the change
      -- counts the reports and keeps the time of the last one.
      ALTER TABLE incident_events
        ADD COLUMN repeats int NOT NULL DEFAULT 1 CHECK (repeats >= 1),
        ADD COLUMN last_at timestamptz;
      -- Audit queries by the collector's clock (received_at: when the event was stored) as well as
      -- by the agent's (time): an agent whose clock is off still shows in "the last 10 minutes".
      CREATE INDEX audit_events_received ON audit_events (received_at, id);`,
  },
  {
    version: 6,
    name: "event seals",
    sql: `
      -- The sidecar's HMAC over the event's hash (outside the hashed body), when it sealed the event
      -- with a key: its key id and MAC. Rows stored before (and events of unkeyed sidecars) have none.
      ALTER TABLE audit_events
        ADD COLUMN seal_kid text,
        ADD COLUMN seal_mac text,
        ADD CONSTRAINT audit_events_seal_check CHECK ((seal_kid IS NULL) = (seal_mac IS NULL));`,
  },
  {
    version: 7,
    name: "memory blob uploaders",
    sql: `
      -- Which agents uploaded each blob: an ingest token (one agent's sidecar) is told about its own
      -- uploads only, never whether another agent stored the same content. Rows go with their blob.
      CREATE TABLE memory_blob_owners (
        sha256 text NOT NULL REFERENCES memory_blobs (sha256) ON DELETE CASCADE,
        agent  text NOT NULL,
        PRIMARY KEY (sha256, agent)
      );
      -- Blobs stored before: each agent whose memory versions name one had its content.
      INSERT INTO memory_blob_owners (sha256, agent)
        SELECT DISTINCT v.sha256, v.agent FROM memory_versions v JOIN memory_blobs b ON b.sha256 = v.sha256;`,
  },
  {
    version: 8,
    name: "alert state",
    sql: `
      -- The collector's alerting across its restarts: each alert pending or firing ("alert:<key>":
      -- since, fired, last notified) and each rule's notification group ("group:<rule>": last sent,
      -- notices waiting). Written by the replica holding the alerts lease, under its fencing token
      -- (fencing row "alerts"): a write under an older token than the granted one is refused.
      CREATE TABLE alert_state (
        key        text PRIMARY KEY,
        state      jsonb NOT NULL,
        token      bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
];

const LOCK_KEY = 0x636c6177; // "claw"

export async function migrate(db: Db): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ version: number }>("SELECT version FROM schema_migrations");
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    return applied;
  });
}
