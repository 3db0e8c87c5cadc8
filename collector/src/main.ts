import { readFileSync } from "node:fs";
import { MIN_SEAL_KEY_LENGTH } from "@clawguard/shared/chain";
import { parseListen } from "@clawguard/shared/config/fields";
import { resolveSecret } from "@clawguard/shared/config/load";
import { ClawguardError, describeError } from "@clawguard/shared/errors";
import { dirProblem } from "@clawguard/shared/fs-dirs";
import { TokenSet } from "@clawguard/shared/http/auth";
import { type Listening, listen } from "@clawguard/shared/http/serve";
import { type Component, STOP_DEADLINE_MS, stopInTurn } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { Periodic } from "@clawguard/shared/periodic";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { VERSION } from "@clawguard/shared/version";
import { Redis } from "ioredis";
import { AlertEngine, alertTargets, redisClaims } from "./alerts/index.ts";
import { createCollectorApp } from "./api/app.ts";
import { COLLECTOR_SECRET_ENV, type CollectorConfig } from "./config.ts";
import { createActuator } from "./controller/actuators.ts";
import {
  actuatorProblems,
  type ControllerConfig,
  leaseProblems,
  restartProblems,
} from "./controller/config.ts";
import { Controller } from "./controller/index.ts";
import { type Lease, localLease, redisLease } from "./controller/lease.ts";
import { evictionCheck, refuseEvictingRedis } from "./controller/redis-policy.ts";
import { Fleet } from "./fleet/index.ts";
import { STALL_MIN_MS, STALL_PERIODS } from "./fleet/stall.ts";
import type { SealKeyring } from "./ingest.ts";
import { CollectorMetrics } from "./metrics/index.ts";
import { ALERTS_FENCE, DbAlertStateStore } from "./store/alert-state-store.ts";
import { AuditStore, COLLECTOR_AGENT } from "./store/audit-store.ts";
import type { Db } from "./store/db.ts";
import { createEmbeddedDb } from "./store/embedded/index.ts";
import { DbFenceStore } from "./store/fence-store.ts";
import { IncidentStore } from "./store/incident-store.ts";
import { type LivenessStore, openLiveness } from "./store/liveness/index.ts";
import { REDIS_DISCONNECT_MS, safeRedisUrl } from "./store/liveness/redis.ts";
import { MemoryStore } from "./store/memory-store.ts";
import { migrate } from "./store/migrations.ts";
import { createPgDb } from "./store/pg/index.ts";

export interface Collector {
  readonly url: string;
  readonly store: AuditStore;
  readonly fleet: Fleet;
  /** Stops everything in reverse, none past the deadline (what is late is named in the error). */
  stop(deadlineMs?: number): Promise<void>;
}

/**
 * Everything about the config that can be checked before anything is opened: every token source
 * read, the controller's settings checked. One config error lists every problem; `--check` and
 * the start give the same answer.
 */
export function checkConfig(config: CollectorConfig, env: NodeJS.ProcessEnv) {
  const { problems, ...checked } = inspectConfig(config, env);
  if (problems.length > 0) {
    throw new ClawguardError(
      "config.invalid",
      `collector config has ${problems.length} problem${problems.length > 1 ? "s" : ""}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  return checked;
}

/** checkConfig's problems, for the config's load to list with the schema's. */
export function configProblems(config: CollectorConfig, env: NodeJS.ProcessEnv): string[] {
  return inspectConfig(config, env).problems;
}

function inspectConfig(config: CollectorConfig, env: NodeJS.ProcessEnv) {
  const problems = controllerProblems(config.controller, env);
  const { targets, problems: alertProblems } = alertTargets(config.alerts, env);
  problems.push(...alertProblems);
  problems.push(
    ...fenceProblems(config, env),
    ...redisProblems(config, env),
    ...dataDirProblems(config, env),
  );
  const ingest = new TokenSet<string>();
  const read = new TokenSet<string>();
  const seals = new Map<string, Map<string, Buffer>>();
  const addSealKey = (where: string, agent: string, id: string, key: string) => {
    const keys = seals.get(agent) ?? new Map<string, Buffer>();
    seals.set(agent, keys);
    if (key.length < MIN_SEAL_KEY_LENGTH)
      problems.push(`${where}: expected a sealing key of ${MIN_SEAL_KEY_LENGTH}+ chars, got ${key.length}`);
    else if (keys.has(id)) problems.push(`${where}: key id ${JSON.stringify(id)} of ${agent} given twice`);
    else if (keys.size >= 2)
      problems.push(`${where}: ${agent} has more than 2 sealing keys: keep the current and the previous one`);
    else keys.set(id, Buffer.from(key, "utf8"));
  };
  config.auth.sidecars.forEach((s, i) => {
    try {
      const token = resolveSecret(s.token, env, `auth.sidecars[${i}].token`);
      if (token) ingest.add(token, s.agent);
      else problems.push(`auth.sidecars[${i}].token: give env or file`);
      s.sealKeys?.forEach((k, j) => {
        const where = `auth.sidecars[${i}].sealKeys[${j}].key`;
        const key = resolveSecret(k.key, env, where);
        if (key) addSealKey(where, s.agent, k.id, key);
        else problems.push(`${where}: give env or file`);
      });
    } catch (err) {
      problems.push((err as Error).message);
    }
  });
  if (config.auth.sealKeysFile) {
    try {
      readFileSync(config.auth.sealKeysFile, "utf8")
        .split("\n")
        .forEach((line, i) => {
          const text = line.trim();
          if (text === "" || text.startsWith("#")) return;
          const match = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\s+([A-Za-z0-9_.-]{1,32})\s+(\S+)$/.exec(text);
          const where = `auth.sealKeysFile ${config.auth.sealKeysFile} line ${i + 1}`;
          if (match) addSealKey(where, match[1] as string, match[2] as string, match[3] as string);
          else problems.push(`${where}: expected "<agent> <key id> <key of ${MIN_SEAL_KEY_LENGTH}+ chars>"`);
        });
    } catch (err) {
      problems.push(`auth.sealKeysFile: cannot read ${config.auth.sealKeysFile}: ${(err as Error).message}`);
    }
  }
  if (config.auth.sidecarTokensFile) {
    try {
      readFileSync(config.auth.sidecarTokensFile, "utf8")
        .split("\n")
        .forEach((line, i) => {
          const text = line.trim();
          if (text === "" || text.startsWith("#")) return;
          const match = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\s+(\S{16,})$/.exec(text);
          if (match) ingest.add(match[2] as string, match[1] as string);
          else
            problems.push(
              `auth.sidecarTokensFile ${config.auth.sidecarTokensFile} line ${i + 1}: expected "<agent> <token of 16+ chars>"`,
            );
        });
    } catch (err) {
      problems.push(
        `auth.sidecarTokensFile: cannot read ${config.auth.sidecarTokensFile}: ${(err as Error).message}`,
      );
    }
  }
  try {
    const token = resolveSecret(
      config.auth.readToken,
      env,
      "auth.readToken",
      COLLECTOR_SECRET_ENV["auth.readToken"],
    );
    if (token) read.add(token, "reader");
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (ingest.size === 0)
    problems.push(
      "auth: no sidecar tokens: set auth.sidecars, auth.sidecarTokensFile or CLAWGUARD_INGEST_TOKENS_FILE",
    );
  if (read.size === 0)
    problems.push("auth.readToken: no read token: set CLAWGUARD_READ_TOKEN or CLAWGUARD_READ_TOKEN_FILE");
  return { problems, ingest, read, seals: seals as SealKeyring, targets };
}

export async function openStore(
  config: CollectorConfig,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<AuditStore> {
  const url = resolveSecret(config.database.url, env, "database.url", COLLECTOR_SECRET_ENV["database.url"]);
  const db: Db = url
    ? createPgDb(url, log.child("postgres"), {
        max: config.database.poolMax,
        applicationName: `clawguard-collector ${config.host}`,
      })
    : await createEmbeddedDb(config.dataDir);
  try {
    const applied = await untilReachable(() => migrate(db), db.kind, log);
    if (applied.length > 0) log.info("store: applied migrations", { versions: applied, store: db.kind });
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return new AuditStore(
    db,
    { agent: COLLECTOR_AGENT, role: "collector", host: config.host },
    { backwardsToleranceMs: config.ingest.timeBackwardsToleranceMs },
  );
}

/** How long a start waits for a PostgreSQL that is not up yet (a restart, compose starting both). */
export const STORE_START_WAIT_MS = 60_000;

/** Not reachable yet (refused, starting up, shutting down), as opposed to a wrong URL or password. */
function notUpYet(err: unknown): boolean {
  // The store wraps its driver's errors (store.unavailable): their words are kept in the message.
  const e = err as { code?: string; message?: string };
  return (
    ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "57P01", "57P02", "57P03"].includes(
      e.code ?? "",
    ) ||
    // not queryable: the session was ended under it (idle_in_transaction_session_timeout: this
    // process was paused inside the migrations' transaction), it reconnects on the next try.
    /ECONNREFUSED|ECONNRESET|Connection terminated|not queryable|idle-in-transaction timeout|the database system is (starting up|shutting down)/.test(
      e.message ?? "",
    )
  );
}

/**
 * `first()` (the migrations: the store's first use), retried while PostgreSQL is not up yet, with
 * backoff, for STORE_START_WAIT_MS; each wait logged. Anything else fails at once.
 */
async function untilReachable<T>(first: () => Promise<T>, kind: string, log: Logger): Promise<T> {
  const deadline = Date.now() + STORE_START_WAIT_MS;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await first();
    } catch (err) {
      if (kind !== "postgres" || !notUpYet(err) || Date.now() + delay > deadline) throw err;
      log.warn("store: PostgreSQL is not reachable yet; waiting for it", {
        error: (err as Error).message,
        retry_in_ms: delay,
        gives_up_at: new Date(deadline).toISOString(),
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** The Redis URL (redis.url, else REDIS_URL or REDIS_URL_FILE), if any: a redis:// or rediss:// URL. */
function redisUrl(config: CollectorConfig, env: NodeJS.ProcessEnv): string | undefined {
  const url = resolveSecret(config.redis.url, env, "redis.url", COLLECTOR_SECRET_ENV["redis.url"]);
  if (url !== undefined && !/^rediss?:\/\/./.test(url)) {
    throw new ClawguardError(
      "config.invalid",
      `redis.url: expected a redis:// or rediss:// URL, got ${JSON.stringify(safeRedisUrl(url))}`,
    );
  }
  return url;
}

/** redisUrl's refusal as a problem of the config, so that --check lists it as the start does. */
/** The embedded store's folder, when there is no PostgreSQL: checked before anything is made. */
function dataDirProblems(config: CollectorConfig, env: NodeJS.ProcessEnv): string[] {
  try {
    if (resolveSecret(config.database.url, env, "database.url", COLLECTOR_SECRET_ENV["database.url"]))
      return [];
  } catch (err) {
    return [(err as Error).message];
  }
  return [dirProblem("dataDir", config.dataDir) ?? []].flat();
}

function redisProblems(config: CollectorConfig, env: NodeJS.ProcessEnv): string[] {
  try {
    redisUrl(config, env);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/**
 * Liveness in Redis when redis.url (or REDIS_URL / REDIS_URL_FILE) is set, else in-process. A
 * configured Redis that cannot be reached is an error: the collector does not start without it.
 */
export async function openLivenessStore(
  config: CollectorConfig,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<LivenessStore> {
  return openLiveness({
    redisUrl: redisUrl(config, env),
    keyPrefix: config.redis.keyPrefix,
    staleFactor: config.fleet.staleFactor,
    log: log.child("redis"),
  });
}

const controllerWanted = (c: ControllerConfig) =>
  c.groups.length > 0 || c.restart.agents.length > 0 || c.restart.roles.length > 0;

/**
 * Replicas sharing a Redis must share their fencing tokens too: those live in PostgreSQL. Embedded
 * (PGlite) replicas would each count their own, and a stale leader's write could pass.
 */
function fenceProblems(config: CollectorConfig, env: NodeJS.ProcessEnv): string[] {
  if (!controllerWanted(config.controller)) return [];
  try {
    const redis = resolveSecret(config.redis.url, env, "redis.url", COLLECTOR_SECRET_ENV["redis.url"]);
    const database = resolveSecret(
      config.database.url,
      env,
      "database.url",
      COLLECTOR_SECRET_ENV["database.url"],
    );
    if (redis && !database)
      return [
        "database.url: the controller with redis.url (several replicas) keeps its fencing tokens in PostgreSQL: set database.url (DATABASE_URL), or drop redis.url to run one embedded replica",
      ];
  } catch {
    // An unreadable secret is reported where the store or liveness opens it.
  }
  return [];
}

/** The controller's settings, its webhook's secret included: all can be checked before anything is opened. */
function controllerProblems(c: ControllerConfig, env: NodeJS.ProcessEnv): string[] {
  if (!controllerWanted(c)) return [];
  const problems: string[] = [];
  c.groups.forEach((g, i) => {
    for (const agent of [g.primary, g.standby]) {
      if (!g.targets[agent])
        problems.push(`controller.groups[${i}].targets.${agent}: required (where clients reach it)`);
    }
  });
  problems.push(...actuatorProblems(c.actuator), ...restartProblems(c), ...leaseProblems(c));
  if (c.actuator.kind === "webhook") {
    try {
      resolveSecret(c.actuator.token, env, "controller.actuator.token");
    } catch (err) {
      problems.push(describeError(err));
    }
  }
  return problems;
}

/**
 * Who evaluates the alerts among replicas: the holder of the "alerts" lease (Redis, as the
 * controller's; in process when there is no Redis), its fencing tokens in the store beside the
 * controller's. Renewed at each evaluation: it lapses after three evaluations missed.
 */
function alertsLease(config: CollectorConfig, db: Db, redis: Redis | undefined): Lease {
  const fence = new DbFenceStore(db, ALERTS_FENCE);
  if (!redis) return localLease(fence);
  return redisLease(redis, fence, {
    prefix: config.redis.keyPrefix,
    holder: `${config.host}:${process.pid}`,
    ttlMs: 3 * config.alerts.evaluateMs + 10_000,
    name: "alerts",
  });
}

/**
 * The failover controller, when gateway groups or agents to restart are configured: it acts only
 * while this replica holds the lease (Redis, shared by every replica; in process when there is no
 * Redis), and records what it does in the agents' incidents.
 */
function startController(
  config: CollectorConfig,
  env: NodeJS.ProcessEnv,
  db: Db,
  fleet: Fleet,
  log: Logger,
): Component | undefined {
  const c = config.controller;
  if (!controllerWanted(c)) return undefined;
  // checkConfig found nothing wrong with it (its secret included) before anything was opened.
  const actuator = createActuator(c.actuator, env, log.child("controller").child("actuator"));
  const url = resolveSecret(config.redis.url, env, "redis.url", COLLECTOR_SECRET_ENV["redis.url"]);
  const redis = url ? sharedRedis(url, "the controller holds", log.child("controller")) : undefined;
  // Tokens and what is written under them: in the durable store, whatever Redis loses.
  const fence = new DbFenceStore(db);
  const lease = redis
    ? redisLease(redis, fence, {
        prefix: config.redis.keyPrefix,
        holder: `${config.host}:${process.pid}`,
        ttlMs: c.leaseTtlMs,
      })
    : localLease(fence);
  // The lease's keys must never be evicted: an evicting Redis is refused at start (exit 78) and,
  // should it be set so later, the controller holds until it is fixed.
  const redisCheck = redis ? evictionCheck(redis, log.child("controller")) : undefined;
  const controller = new Controller({
    lease,
    liveness: fleet.liveness,
    stalled: () => fleet.stalled(),
    redis,
    redisCheck,
    // Once per lease lifetime: an evicting policy set at run time is found before it costs much.
    redisCheckMs: c.leaseTtlMs,
    prefix: config.redis.keyPrefix,
    groups: c.groups,
    restart: c.restart,
    actuator,
    incidents: fleet.incidents,
    policy: c,
    staleFactor: config.fleet.staleFactor,
    tickMs: c.tickMs,
    downTimeoutMs: c.downTimeoutMs,
    readyTimeoutMs: c.readyTimeoutMs,
    log: log.child("controller"),
  });
  const close = async () => {
    await actuator.close?.();
    await lease.release().catch(() => {});
    redis?.disconnect();
  };
  return {
    id: controller.id,
    start: async () => {
      if (redisCheck)
        await refuseEvictingRedis(redisCheck).catch(async (err) => {
          await close();
          throw err;
        });
      await controller.start();
    },
    stop: async () => {
      await controller.stop();
      await close();
    },
  };
}

/**
 * A Redis connection of its own (the controller's, the alerts'). While Redis is unreachable its
 * commands fail fast (the controller's tick fails, is logged, and it does nothing until Redis is
 * back; an alert is sent without its claim); the connection's errors are logged once per outage.
 */
function sharedRedis(url: string, meanwhile: string, log: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
    disconnectTimeout: REDIS_DISCONNECT_MS,
  });
  let down = false;
  redis.on("error", (err: Error) => {
    if (!down)
      log.warn(`redis: connection lost, reconnecting; ${meanwhile} meanwhile`, {
        error: err.message,
      });
    down = true;
  });
  redis.on("ready", () => {
    if (down) log.info("redis: reconnected");
    down = false;
  });
  return redis;
}

/**
 * When the collector stops, requests in flight get this long to finish before their connections
 * are cut, and so do the store's queries (see stop).
 */
const IN_FLIGHT_GRACE_MS = 500;

/** How often each replica deletes memory file contents no event named (see ingest.orphanBlobTtlMs). */
const BLOB_SWEEP_MS = 3_600_000;

/** What is open so far, each with how it stops: closed in reverse. */
type Opened = { id: string; stop: () => Promise<void> }[];

/** What the collector's start-up steps share. */
interface Context {
  config: CollectorConfig;
  env: NodeJS.ProcessEnv;
  log: Logger;
  tokens: ReturnType<typeof checkConfig>;
  opened: Opened;
}

/**
 * The composition root: store, liveness, the staleness sweep, then the API; stopped in reverse.
 * A failure on the way closes what was already open.
 */
export async function startCollector(
  config: CollectorConfig,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<Collector> {
  const tokens = checkConfig(config, env);
  const telemetry = await startTelemetry("clawguard-collector", env, {
    version: VERSION,
    instanceId: `${config.host}:${process.pid}`,
  });
  const opened: Opened = [{ id: "telemetry", stop: () => telemetry.shutdown() }];
  const ctx: Context = { config, env, log, tokens, opened };
  let store: AuditStore;
  let fleet: Fleet;
  let server: Listening;
  try {
    ({ store, fleet } = await openFleet(ctx));
    await startBlobSweep(ctx, store);
    const metrics = new CollectorMetrics(config.metrics);
    const alerts = await startAlerts(ctx, store, fleet, metrics);
    const controller = startController(config, env, store.db, fleet, log);
    if (controller) {
      await controller.start();
      opened.push({ id: "controller", stop: () => controller.stop() });
    }
    const app = createCollectorApp({
      store,
      fleet,
      ingestTokens: tokens.ingest,
      readTokens: tokens.read,
      sealKeys: tokens.seals,
      bodyLimitBytes: config.ingest.bodyLimitBytes,
      blobLimitBytes: config.ingest.blobLimitBytes,
      maxBatchEvents: config.ingest.maxBatchEvents,
      metrics,
      alerts,
      log: log.child("api"),
      ...(telemetry.enabled ? { tracer: telemetry.tracer } : {}),
    });
    server = await serve(ctx, app.fetch);
  } catch (err) {
    await stopInTurn(opened.splice(0).reverse(), STOP_DEADLINE_MS);
    throw err;
  }
  log.info("collector started", {
    url: server.url,
    store: store.db.kind,
    liveness: fleet.liveness.kind,
    dataDir: store.db.kind === "pglite" ? config.dataDir : undefined,
  });
  return { url: server.url, store, fleet, stop: stopper(opened, store, fleet) };
}

/** The audit store, the liveness store, the fleet over them, and its staleness sweep. */
async function openFleet({
  config,
  env,
  log,
  opened,
}: Context): Promise<{ store: AuditStore; fleet: Fleet }> {
  const store = await openStore(config, env, log);
  opened.push({ id: "store", stop: () => store.db.close() });
  const liveness = await openLivenessStore(config, env, log);
  opened.push({ id: "liveness", stop: () => liveness.close() });
  const fleet = new Fleet({
    liveness,
    incidents: new IncidentStore(store.db),
    staleFactor: config.fleet.staleFactor,
    maxClockSkewMs: config.fleet.maxClockSkewMs,
    // The sweep looks every sweepMs: a gap of several is a stall of the collector's own.
    stallAfterMs: Math.max(STALL_MIN_MS, STALL_PERIODS * config.fleet.sweepMs),
    log: log.child("fleet"),
  });
  // Every replica sweeps; liveness hands each change to one of them.
  const sweep = new Periodic({
    id: "fleet.sweep",
    name: "fleet sweep",
    run: () => fleet.sweep(),
    everyMs: config.fleet.sweepMs,
    log: log.child("fleet"),
  });
  await sweep.start();
  opened.push({ id: "fleet.sweep", stop: () => sweep.stop() });
  return { store, fleet };
}

/** The sweep of memory file contents no event named. */
async function startBlobSweep({ config, log, opened }: Context, store: AuditStore): Promise<void> {
  const memory = new MemoryStore(store.db);
  const blobSweep = new Periodic({
    id: "memory.blob-sweep",
    name: "orphan blob sweep",
    run: async () => {
      const deleted = await memory.sweepOrphanBlobs(config.ingest.orphanBlobTtlMs);
      if (deleted > 0)
        log.info("deleted memory file contents no event named", {
          blobs: deleted,
          older_than_ms: config.ingest.orphanBlobTtlMs,
        });
    },
    everyMs: BLOB_SWEEP_MS,
    log,
  });
  await blobSweep.start();
  opened.push({ id: "memory.blob-sweep", stop: () => blobSweep.stop() });
}

/** The alert engine (its claims in Redis when there is one) and its periodic evaluation. */
async function startAlerts(
  { config, env, log, tokens, opened }: Context,
  store: AuditStore,
  fleet: Fleet,
  metrics: CollectorMetrics,
): Promise<AlertEngine> {
  const redisUrl = resolveSecret(config.redis.url, env, "redis.url", COLLECTOR_SECRET_ENV["redis.url"]);
  const alertRedis = redisUrl
    ? sharedRedis(redisUrl, "alerts may be sent twice", log.child("alerts"))
    : undefined;
  if (alertRedis) opened.push({ id: "alerts.redis", stop: async () => alertRedis.disconnect() });
  const alerts = new AlertEngine({
    claims: alertRedis ? redisClaims(alertRedis, config.redis.keyPrefix) : undefined,
    lease: alertsLease(config, store.db, alertRedis),
    state: new DbAlertStateStore(store.db),
    config: config.alerts,
    targets: tokens.targets,
    fleet,
    store,
    metrics,
    log: log.child("alerts"),
  });
  const evaluate = new Periodic({
    id: "alerts",
    name: "alert evaluation",
    run: () => alerts.evaluate(),
    everyMs: config.alerts.evaluateMs,
    log: log.child("alerts"),
  });
  await evaluate.start();
  opened.push({
    id: "alerts",
    stop: async () => {
      await evaluate.stop();
      await alerts.drain();
      await alerts.release();
    },
  });
  return alerts;
}

/** The API on config.listen (a port it cannot take is a config problem); cut after a grace on stop. */
async function serve(
  { config, log, opened }: Context,
  fetch: Parameters<typeof listen>[0],
): Promise<Listening> {
  const { host, port } = parseListen(config.listen);
  let server: Listening;
  try {
    server = await listen(fetch, host, port);
  } catch (err) {
    throw new ClawguardError(
      "config.invalid",
      `listen: cannot listen on ${config.listen}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  opened.push({
    id: "api",
    stop: async () => {
      const cut = await server.close(IN_FLIGHT_GRACE_MS);
      if (cut > 0) log.warn("requests aborted: the collector is stopping", { requests: cut });
    },
  });
  return server;
}

/** The collector's stop: once, whatever the number of calls; every step within the deadline. */
function stopper(opened: Opened, store: AuditStore, fleet: Fleet): Collector["stop"] {
  let stopped: Promise<void> | undefined;
  return (deadlineMs = STOP_DEADLINE_MS) => {
    stopped ??= (async () => {
      // What is under way (requests, sweeps, evaluations) gets its grace; then the stores take no
      // more and cut what still waits on them (a hung PostgreSQL or Redis), so that every stop
      // below ends in time instead of waiting on them.
      const grace = Math.min(IN_FLIGHT_GRACE_MS, deadlineMs / 3);
      const cut = setTimeout(() => {
        void store.db.close();
        void fleet.liveness.close();
      }, grace).unref();
      const failures = await stopInTurn(opened.splice(0).reverse(), deadlineMs);
      clearTimeout(cut);
      if (failures.length > 0) throw new Error(`collector stop failed:\n  - ${failures.join("\n  - ")}`);
    })();
    return stopped;
  };
}
