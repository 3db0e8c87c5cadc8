import { createHash } from "node:crypto";
import { ClawguardError, describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import { Redis } from "ioredis";
import {
  type AgentRecord,
  deadlineOf,
  type Heartbeat,
  type Instance,
  type LivenessEntry,
  type LivenessOptions,
  type LivenessStore,
  mergeInstance,
  SWEEP_LIMIT,
  signatureOf,
  type Transition,
  transitionOf,
} from "./model.ts";

/*
 * Keys (all under one hash tag, so the scripts also run on a Redis Cluster):
 *   {fleet}:records     hash   agent -> its last heartbeat as JSON (kept: the fleet is every agent ever heard from)
 *   {fleet}:heartbeat:A string the same JSON with a TTL of staleFactor x intervalMs: exists while A is live
 *   {fleet}:due         zset   agent -> when it turns stale (ms); the sweep takes what is due
 *   {fleet}:instances:A hash   instance id -> the sidecar process heard from as A (see Instance), TTL as above
 *   {fleet}:revs        hash   agent -> revision of its last change (of state or reasons, or to stale)
 *   {fleet}:signatures  hash   agent -> its state + reasons ("stale" once marked)
 *   {fleet}:stale       hash   agent -> when it turned stale (ms), while marked
 *   {fleet}:pending     zset   agent -> when to hand its unconfirmed transition out again (ms)
 * Every change is one Lua script, so replicas racing on one agent see one order of events.
 */
const KEYS = ["records", "revs", "signatures", "stale", "due", "pending"] as const;

// KEYS: records revs signatures stale due pending heartbeat
// ARGV: agent, record JSON, signature, now, deadline, ttl, lease until
const RECORD = `
local agent = ARGV[1]
redis.call('HSET', KEYS[1], agent, ARGV[2])
redis.call('HDEL', KEYS[4], agent)
redis.call('ZADD', KEYS[5], ARGV[5], agent)
redis.call('SET', KEYS[7], ARGV[2], 'PX', ARGV[6])
if redis.call('HGET', KEYS[3], agent) == ARGV[3] then return '' end
local now = tonumber(ARGV[4])
local rev = string.format('%.0f', math.max(tonumber(redis.call('HGET', KEYS[2], agent) or '0') + 1, now))
redis.call('HSET', KEYS[2], agent, rev)
redis.call('HSET', KEYS[3], agent, ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[7], agent)
return rev`;

// KEYS: records revs signatures stale due pending
// ARGV: now, lease until, limit, the stale signature
// Returns agent, rev, record JSON, stale since (or '') for each transition handed out.
const SWEEP = `
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[3])
for i = 1, #due, 2 do
  local agent = due[i]
  local rev = string.format('%.0f', math.max(tonumber(redis.call('HGET', KEYS[2], agent) or '0') + 1, now))
  redis.call('ZREM', KEYS[5], agent)
  redis.call('HSET', KEYS[2], agent, rev)
  redis.call('HSET', KEYS[3], agent, ARGV[4])
  redis.call('HSET', KEYS[4], agent, due[i + 1])
  redis.call('ZADD', KEYS[6], ARGV[2], agent)
end
local agents = {}
for i = 1, #due, 2 do agents[#agents + 1] = due[i] end
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])) do
  redis.call('ZADD', KEYS[6], ARGV[2], agent)
  agents[#agents + 1] = agent
end
local out = {}
for _, agent in ipairs(agents) do
  out[#out + 1] = agent
  out[#out + 1] = redis.call('HGET', KEYS[2], agent) or '0'
  out[#out + 1] = redis.call('HGET', KEYS[1], agent) or ''
  out[#out + 1] = redis.call('HGET', KEYS[4], agent) or ''
end
return out`;

// KEYS: revs pending; ARGV: agent, rev
const CONFIRM = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 0`;

const SHA1 = new Map(
  [RECORD, SWEEP, CONFIRM].map((script) => [script, createHash("sha1").update(script).digest("hex")]),
);

/** A Redis URL fit for messages: the password is never shown. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return "(not a URL)";
  }
}

function unavailable(err: unknown): never {
  if (err instanceof ClawguardError) throw err;
  throw new ClawguardError("store.unavailable", `Redis is unavailable: ${describeError(err)}`, {
    retryable: true,
    cause: err,
  });
}

export interface RedisLivenessOptions extends LivenessOptions {
  url: string;
  /** Prepended to every key, e.g. "clawguard:". */
  keyPrefix: string;
  log: Logger;
  /** How long one command may take before it fails (store.unavailable). */
  commandTimeoutMs?: number;
}

/**
 * How long a disconnect waits for Redis to close its end before the socket is destroyed (ioredis
 * waits 2 s): a paused Redis never does, and commands waiting on it fail once it is destroyed.
 */
export const REDIS_DISCONNECT_MS = 100;

/** Liveness in Redis, shared by every collector replica. Connects (or throws) before it returns. */
export async function createRedisLiveness(options: RedisLivenessOptions): Promise<RedisLiveness> {
  let connected = false;
  let lastError: Error | undefined;
  const client = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: 5000,
    commandTimeout: options.commandTimeoutMs ?? 5000,
    disconnectTimeout: REDIS_DISCONNECT_MS,
    // Fail a command at once while disconnected (the caller answers 503) instead of queueing it.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Not at start (the collector refuses to start); afterwards, reconnect with backoff for ever.
    retryStrategy: (times) => (connected ? Math.min(times * 200, 5000) : null),
  });
  let down = false;
  client.on("error", (err: Error) => {
    lastError = err;
    // Once per outage, not at every reconnection attempt.
    if (connected && !down) options.log.warn("redis: connection lost, reconnecting", { error: err.message });
    down = connected;
  });
  client.on("ready", () => {
    if (down) options.log.info("redis: reconnected");
    down = false;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new ClawguardError(
      "store.unavailable",
      `redis.url: cannot reach Redis at ${safeRedisUrl(options.url)}: ${describeError(lastError ?? err)}`,
      { cause: err },
    );
  }
  connected = true;
  return new RedisLiveness(client, options);
}

/** How long a close waits for Redis to answer its QUIT. */
const QUIT_MS = 200;

export class RedisLiveness implements LivenessStore {
  readonly kind = "redis";
  readonly #client: Redis;
  readonly #o: RedisLivenessOptions;
  readonly #keys: string[];
  readonly #tag: string;
  #closed: Promise<void> | undefined;

  constructor(client: Redis, options: RedisLivenessOptions) {
    this.#client = client;
    this.#o = options;
    this.#tag = `${options.keyPrefix}{fleet}:`;
    this.#keys = KEYS.map((k) => this.#tag + k);
  }

  /** EVALSHA, loading the script the first time (or after a SCRIPT FLUSH / failover). */
  async #run<T>(script: string, keys: string[], args: (string | number)[]): Promise<T> {
    try {
      try {
        return (await this.#client.evalsha(SHA1.get(script) as string, keys.length, ...keys, ...args)) as T;
      } catch (err) {
        if (!/NOSCRIPT/.test((err as Error).message)) throw err;
        return (await this.#client.eval(script, keys.length, ...keys, ...args)) as T;
      }
    } catch (err) {
      return unavailable(err);
    }
  }

  async record(heartbeat: Heartbeat, now: number): Promise<Transition | null> {
    const record: AgentRecord = { ...heartbeat, lastSeen: new Date(now).toISOString() };
    const json = JSON.stringify(record);
    const deadline = deadlineOf(now, heartbeat.intervalMs, this.#o.staleFactor);
    const rev = await this.#run<string>(
      RECORD,
      [...this.#keys, `${this.#tag}heartbeat:${heartbeat.agent}`],
      [
        heartbeat.agent,
        json,
        signatureOf(heartbeat.state, heartbeat.reasons),
        now,
        deadline,
        deadline - now,
        now + this.#o.leaseMs,
      ],
    );
    return rev === "" ? null : transitionOf(record, Number(rev), null, this.#o.staleFactor);
  }

  async sweep(now: number, limit = SWEEP_LIMIT): Promise<Transition[]> {
    const flat = await this.#run<string[]>(SWEEP, this.#keys, [
      now,
      now + this.#o.leaseMs,
      limit,
      signatureOf("stale", []),
    ]);
    const out: Transition[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const [rev, json, staleSince] = flat.slice(i + 1, i + 4) as [string, string, string];
      if (json === "") continue;
      const record = JSON.parse(json) as AgentRecord;
      out.push(
        transitionOf(record, Number(rev), staleSince === "" ? null : Number(staleSince), this.#o.staleFactor),
      );
    }
    return out;
  }

  async sighting(agent: string, seen: Instance, now: number): Promise<Instance[]> {
    // Not atomic, and need not be: each instance writes only its own field, one heartbeat at a time.
    const key = `${this.#tag}instances:${agent}`;
    try {
      const stored = Object.values(await this.#client.hgetall(key)).map(
        (json) => JSON.parse(json) as Instance,
      );
      const { live, gone } = mergeInstance(stored, seen, now, this.#o.staleFactor);
      const mine = live.find((i) => i.instance === seen.instance);
      const write = this.#client.multi();
      if (mine) write.hset(key, seen.instance, JSON.stringify(mine));
      if (gone.length > 0) write.hdel(key, ...gone);
      // Forgotten with the agent: past the staleness of the longest interval any instance has.
      const ttl = Math.max(
        ...live.map((i) => deadlineOf(now, i.intervalMs, this.#o.staleFactor) - now),
        1000,
      );
      write.pexpire(key, ttl);
      await write.exec();
      return live;
    } catch (err) {
      return unavailable(err);
    }
  }

  async confirm(agent: string, rev: number): Promise<void> {
    await this.#run(CONFIRM, [this.#tag + "revs", this.#tag + "pending"], [agent, String(rev)]);
  }

  async list(): Promise<LivenessEntry[]> {
    let records: Record<string, string>;
    let stale: Record<string, string>;
    try {
      [records, stale] = await Promise.all([
        this.#client.hgetall(this.#tag + "records"),
        this.#client.hgetall(this.#tag + "stale"),
      ]);
    } catch (err) {
      return unavailable(err);
    }
    return Object.entries(records).map(([agent, json]) => {
      const since = stale[agent];
      return {
        record: JSON.parse(json) as AgentRecord,
        staleSince: since === undefined ? null : new Date(Number(since)).toISOString(),
      };
    });
  }

  async ping(): Promise<void> {
    try {
      await this.#client.ping();
    } catch (err) {
      unavailable(err);
    }
  }

  /** QUIT, so that Redis finishes what it was sent; one that does not answer (paused) is cut after QUIT_MS. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((done) => {
      const cut = setTimeout(() => this.#client.disconnect(), QUIT_MS).unref();
      const closed = () => {
        clearTimeout(cut);
        this.#client.disconnect();
        done();
      };
      this.#client.quit().then(closed, closed);
    });
    return this.#closed;
  }
}
