import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { MIN_SEAL_KEY_LENGTH, type SealKey } from "@clawguard/shared/chain";
import { parseListen } from "@clawguard/shared/config/fields";
import { resolveSecret } from "@clawguard/shared/config/load";
import { ClawguardError, describeError } from "@clawguard/shared/errors";
import { draftEvent, type EventSource } from "@clawguard/shared/events/envelope";
import { dirProblem, mkdirp } from "@clawguard/shared/fs-dirs";
import { HeapRelease } from "@clawguard/shared/heap-release";
import { TokenSet } from "@clawguard/shared/http/auth";
import { type Listening, listen } from "@clawguard/shared/http/serve";
import { type Component, Runner } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { isoTime } from "@clawguard/shared/time";
import { VERSION } from "@clawguard/shared/version";
import { createSidecarApp } from "./api/app.ts";
import { diskLowReasons } from "./api/disk.ts";
import { AGENT_BUNDLE } from "./build/paths.ts";
import { EventBus } from "./bus.ts";
import { type SidecarConfig, sharedConfig } from "./config.ts";
import { SIDECAR_SECRET_ENV } from "./config-env.ts";
import { instanceId } from "./instance-id.ts";
import { isInside } from "./paths.ts";
import { BlobShipper } from "./sinks/blobs/shipper.ts";
import { BlobStore } from "./sinks/blobs/store.ts";
import { HeartbeatSender } from "./sinks/heartbeat/index.ts";
import { OtelSink } from "./sinks/otel/index.ts";
import { DEAD_LETTERED, type DeadLetter, Shipper } from "./sinks/shipper/index.ts";
import { adoptWorkspaceSpool } from "./sinks/spool/adopt.ts";
import { Spool } from "./sinks/spool/spool.ts";
import { StatsSink } from "./sinks/stats/index.ts";
import { SpillStore } from "./sources/exec-guard/index.ts";
import { SpillRetention } from "./sources/exec-guard/spill-retention.ts";
import { InboxSource } from "./sources/inbox/index.ts";
import { LlmGuard } from "./sources/llm-proxy/index.ts";
import { type Provider, resolveProviders } from "./sources/llm-proxy/providers.ts";
import { MemoryDecay } from "./sources/memory-watch/decay/index.ts";
import { MemoryWatcher } from "./sources/memory-watch/watcher.ts";
import { Prober } from "./sources/prober/index.ts";

export interface Sidecar {
  readonly url: string;
  readonly apiToken: string;
  readonly spool: Spool;
  readonly shipper: Shipper;
  readonly inbox: InboxSource;
  readonly llm: LlmGuard;
  /** Stops every component in reverse, none past the deadline (what is late is named in the error). */
  stop(deadlineMs?: number): Promise<void>;
}

/**
 * The agent-side clawguard, published where the agent's container mounts it: copied whole, then
 * renamed into place, so the agent never runs half a file.
 */
function publishAgentCli(dir: string, log: Logger): void {
  if (!existsSync(AGENT_BUNDLE)) {
    log.warn("no agent-side clawguard to publish: run pnpm build (the sidecar image has it)", { dir });
    return;
  }
  mkdirp(dir, 0o755);
  // Unique across containers: the sidecars of a deployment share this volume, and each is pid 7
  // in its own container (two renamed each other's file away: ENOENT, and a restart loop).
  const tmp = join(dir, `.clawguard.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  copyFileSync(AGENT_BUNDLE, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, join(dir, "clawguard"));
  log.info("agent-side clawguard published", { dir });
}

/**
 * The workspace's `.clawguard/`, which the agent-side commands walk up to when no variable names the
 * workspace. The inbox made it before; with an inbox of its own (inboxDir) nothing else would until
 * a first spill, and `clawguard exec` warned that no sidecar watched the folder. A workspace the
 * sidecar may not write (mounted read-only) is left as it is.
 */
function markWorkspace(config: SidecarConfig, log: Logger): void {
  try {
    mkdirp(config.paths.root, 0o700);
  } catch (err) {
    log.warn("workspace: cannot make .clawguard", { dir: config.paths.root, error: describeError(err) });
  }
}

/**
 * The sidecar's private state dir: outside the workspace, which the agent's container reads and
 * writes (a token kept there would be the agent's).
 */
export function checkStateDir(config: SidecarConfig): void {
  const { stateDir } = config.paths;
  if (isInside(config.workspace, stateDir) || isInside(stateDir, config.workspace)) {
    throw new ClawguardError(
      "config.invalid",
      `stateDir: expected a folder outside the workspace ${config.workspace} (the agent's container reads everything in it), got ${stateDir}: set stateDir or CLAWGUARD_STATE_DIR`,
    );
  }
  checkDirs(config);
}

/** The API token: configured, from the environment, or generated once into the private state dir. */
function apiToken(config: SidecarConfig, env: NodeJS.ProcessEnv): string {
  const configured = resolveSecret(config.api.token, env, "api.token", SIDECAR_SECRET_ENV["api.token"]);
  if (configured) return configured;
  const file = config.paths.apiToken;
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const token = randomBytes(32).toString("hex");
  writeFileSync(file, token, { mode: 0o600, flag: "wx" });
  return token;
}

/**
 * The spool's sealing key, from the sidecar's own secrets (env or a file outside the workspace the
 * agent's container shares: a key the agent can read would let it re-seal an edited spool).
 */
function sealKey(config: SidecarConfig, env: NodeJS.ProcessEnv, log: Logger): SealKey | undefined {
  const name = SIDECAR_SECRET_ENV["spool.sealKey"];
  const file = config.spool.sealKey?.file ?? (config.spool.sealKey ? undefined : env[`${name}_FILE`]);
  if (file && !env[name]) {
    const rel = relative(config.workspace, resolve(file));
    if (rel === "" || (!rel.startsWith("..") && !isAbsolute(rel)))
      throw new ClawguardError(
        "config.invalid",
        `spool.sealKey: ${file} is inside the workspace, which the agent's container can read: keep the sealing key in the sidecar's own secrets (e.g. /run/secrets/)`,
      );
  }
  const key = resolveSecret(config.spool.sealKey, env, "spool.sealKey", name);
  if (!key) {
    log.warn(
      "events are not sealed: set CLAWGUARD_SEAL_KEY(_FILE) (and the same key for this agent on the collector) so that an edited spool is detected",
    );
    return undefined;
  }
  if (key.length < MIN_SEAL_KEY_LENGTH)
    throw new ClawguardError(
      "config.invalid",
      `spool.sealKey: expected a key of ${MIN_SEAL_KEY_LENGTH}+ chars, got ${key.length} (e.g. openssl rand -hex 32)`,
    );
  return { id: config.spool.sealKeyId, key: Buffer.from(key, "utf8") };
}

/**
 * The audit event for events the collector rejected (kept in the dead-letter file): none when they
 * are all such events themselves, so a rejection can never feed itself.
 */
function deadLetterEvent(source: EventSource, letters: readonly DeadLetter[]) {
  const reported = letters.filter((l) => l.type !== DEAD_LETTERED);
  if (reported.length === 0) return undefined;
  return draftEvent({
    source,
    type: DEAD_LETTERED,
    severity: "error",
    attrs: {
      count: reported.length,
      event_ids: reported.slice(0, 20).map((l) => l.id ?? null),
      types: [...new Set(reported.map((l) => l.type ?? "unknown"))].slice(0, 20),
      errors: reported
        .flatMap((l) => l.errors)
        .slice(0, 5)
        .map((e) => e.slice(0, 300)),
      file: "dead-letter.jsonl",
    },
  });
}

/** How long requests in flight get to finish when the sidecar stops, of its 1.5 s. */
const API_GRACE_MS = 400;

/**
 * Every folder the sidecar makes outside the workspace, checked before any is made: a path under a
 * file, an unwritable one or one on /proc would fail (or hang) the start halfway.
 */
function checkDirs(config: SidecarConfig): void {
  const dirs: [string, string][] = [
    ["stateDir", config.paths.stateDir],
    ["spool.dir", config.paths.spool],
  ];
  if (config.binDir) dirs.push(["binDir", config.binDir]);
  const problems = dirs.flatMap(([key, dir]) => dirProblem(key, dir) ?? []);
  if (problems.length === 1) throw new ClawguardError("config.invalid", problems[0] as string);
  if (problems.length > 1) {
    throw new ClawguardError(
      "config.invalid",
      `sidecar config has ${problems.length} problems:\n  - ${problems.join("\n  - ")}`,
    );
  }
}

/**
 * Every check the start makes before it takes anything (a lock, a port, a file), in the same order;
 * `sidecar --check` runs exactly these. Throws config.invalid (exit 78) naming what is wrong.
 */
export function preflight(
  config: SidecarConfig,
  env: NodeJS.ProcessEnv,
): { ingestToken: string; providers: Provider[]; skipped: string[] } {
  const ingestToken = resolveSecret(
    config.shipper.token,
    env,
    "shipper.token",
    SIDECAR_SECRET_ENV["shipper.token"],
  );
  if (!ingestToken) {
    throw new ClawguardError(
      "config.invalid",
      "shipper.token: no ingest token for the collector: set CLAWGUARD_INGEST_TOKEN or CLAWGUARD_INGEST_TOKEN_FILE, or shipper.token.file in the config",
    );
  }
  checkStateDir(config);
  const skipped: string[] = [];
  const providers = resolveProviders(config.llm, env, skipped);
  return { ingestToken, providers, skipped };
}

/**
 * The composition root: builds the sidecar's components from its config and runs them, sinks first
 * and sources last.
 */
export async function startSidecar(
  config: SidecarConfig,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<Sidecar> {
  // Checked before the spool is locked: a config that fails leaves no lock behind.
  const { ingestToken } = preflight(config, env);
  mkdirp(config.paths.stateDir);
  markWorkspace(config, log);
  const token = apiToken(config, env);
  if (config.binDir) publishAgentCli(config.binDir, log);
  const { host, port } = parseListen(config.api.listen);

  const { sealKey: _ref, sealKeyId: _id, ...spoolOptions } = config.spool;
  adoptWorkspaceSpool(config.workspace, config.agent, config.paths.spool, log.child("spool"));
  const key = sealKey(config, env, log);
  const spool = await Spool.open({
    ...spoolOptions,
    dir: config.paths.spool,
    sealKey: key,
    log: log.child("spool"),
  });
  try {
    // Under the spool's lock: one process per state dir, so one id per live sidecar.
    // Its keys in sorted order: an event's hash is over its canonical (key-sorted) JSON, which is a
    // plain JSON.stringify only when every object in it is in that order already (chain.ts).
    const source: EventSource = {
      agent: config.agent,
      host: config.host,
      instance: instanceId(config.paths.instanceId),
      role: config.role,
    };
    return await run(config, env, log, { spool, ingestToken, token, source, host, port });
  } catch (err) {
    await spool.close().catch(() => {});
    throw err;
  }
}

interface Opened {
  spool: Spool;
  ingestToken: string;
  token: string;
  source: EventSource;
  host: string;
  port: number;
}

/** What run's builders share: the config, the environment, the logger and what the open spool gave. */
interface Context extends Opened {
  config: SidecarConfig;
  env: NodeJS.ProcessEnv;
  log: Logger;
  spill: SpillStore;
}

/** Builds the components around the open spool and runs them: sinks first, sources, then the API. */
async function run(
  config: SidecarConfig,
  env: NodeJS.ProcessEnv,
  log: Logger,
  opened: Opened,
): Promise<Sidecar> {
  const ctx: Context = {
    ...opened,
    config,
    env,
    log,
    spill: new SpillStore(config.paths.spill, config.workspace),
  };
  const { spool, source } = opened;
  const delivery = await deliveryOf(ctx);
  const sources = sourcesOf(ctx, delivery);
  const watch = watchOf(ctx, delivery, sources);
  const { api, url } = apiOf(ctx, delivery, sources, watch);
  const spoolComponent: Component = { id: "sink.spool", start: async () => {}, stop: () => spool.close() };
  const runner = new Runner([
    // A burst's garbage (a first catch-up with thousands of memory files) back to the system once quiet.
    new HeapRelease({ log: log.child("heap") }),
    spoolComponent,
    new OtelSink(delivery.bus, delivery.telemetry),
    watch.stats,
    delivery.shipper,
    sources.blobShipper,
    sources.inbox,
    sources.spillRetention,
    sources.memory,
    sources.decay,
    sources.llm,
    watch.prober,
    ...(config.heartbeat.enabled ? [watch.heartbeat] : []),
    api,
  ]);
  await runner.start();
  await publishQuarantined(spool, delivery.bus, source);
  log.info("sidecar started", {
    agent: config.agent,
    url: url(),
    workspace: config.workspace,
    collector: config.shipper.url,
  });
  return {
    url: url() as string,
    apiToken: opened.token,
    spool,
    shipper: delivery.shipper,
    inbox: sources.inbox,
    llm: sources.llm,
    stop: (deadlineMs) => runner.stop(deadlineMs),
  };
}

interface Delivery {
  bus: EventBus;
  telemetry: Awaited<ReturnType<typeof startTelemetry>>;
  shipper: Shipper;
}

/** The way out: the bus over the spool, the OTel SDK, and the shipper to the collector. */
async function deliveryOf({ config, env, log, spool, ingestToken, source }: Context): Promise<Delivery> {
  const bus = new EventBus(spool);
  const telemetry = await startTelemetry("clawguard-sidecar", env, {
    version: VERSION,
    instanceId: config.agent,
    attributes: { "clawguard.agent": config.agent, "clawguard.role": config.role },
  });
  const shipper = new Shipper({
    ...config.shipper,
    token: ingestToken,
    spool,
    deadLetterFile: config.paths.deadLetter,
    onDeadLetter: (letters) => {
      const draft = deadLetterEvent(source, letters);
      if (draft) void bus.publish([draft]).catch(() => {});
    },
    log: log.child("shipper"),
  });
  return { bus, telemetry, shipper };
}

interface Sources {
  inbox: InboxSource;
  llm: LlmGuard;
  blobShipper: BlobShipper;
  memory: MemoryWatcher;
  decay: MemoryDecay;
  spillRetention: SpillRetention;
}

/** The sources: the inbox, the LLM guard, the memory watcher (its blobs) and decay, the spills' retention. */
function sourcesOf(ctx: Context, { bus, telemetry }: Delivery): Sources {
  const { config, env, log, source, spool, spill, ingestToken } = ctx;
  const inbox = new InboxSource({
    dir: config.paths.inbox,
    quarantineDir: config.paths.quarantine,
    workspace: config.workspace,
    source,
    bus,
    alreadySpooled: (id) => spool.has(id),
    log: log.child("inbox"),
  });
  const llm = new LlmGuard({
    config: config.llm,
    env,
    spill,
    source,
    bus,
    telemetry,
    log: log.child("llm"),
    calibrationFile: join(config.paths.stateDir, "llm-calibration.json"),
  });
  const blobs = new BlobStore(config.paths.blobs, config.memory.maxPendingBytes);
  const blobShipper = new BlobShipper({
    ...config.shipper,
    token: ingestToken,
    store: blobs,
    log: log.child("blobs"),
  });
  const memory = new MemoryWatcher({
    workspace: config.workspace,
    config: { ...config.memory, openclawConfig: config.memory.openclawConfig ?? config.llm.openclawConfig },
    source,
    // The content is on disk before the event that names it exists; the blob shipper takes it on.
    keepContent: (sha256, content) => blobs.putAsync(sha256, content),
    publish: async (drafts) => {
      await bus.publish(drafts);
      blobShipper.kick();
    },
    stateFile: config.paths.memoryState,
    log: log.child("memory"),
  });
  const decay = new MemoryDecay({
    workspace: config.workspace,
    config: config.memory.decay,
    source,
    publish: (drafts) => bus.publish(drafts),
    log: log.child("memory-decay"),
  });
  const spillRetention = new SpillRetention({
    ...config.exec.spill,
    dir: config.paths.spill,
    source,
    publish: (drafts) => bus.publish(drafts),
    log: log.child("spill-retention"),
  });
  return { inbox, llm, blobShipper, memory, decay, spillRetention };
}

interface Watch {
  stats: StatsSink;
  prober: Prober;
  heartbeat: HeartbeatSender;
}

/** What watches the agent: the stats, the prober of its health, the heartbeat that carries both. */
function watchOf(ctx: Context, { bus, shipper }: Delivery, { llm, memory }: Sources): Watch {
  const { config, env, log, source, spool, ingestToken } = ctx;
  const stats = new StatsSink(bus, { spool, shipper, memory: { reasons: () => memory.reasons() } });
  const prober = new Prober({
    config: config.probe,
    env,
    source,
    // A provider whose credential fails, providers not guarded for want of openclaw.json, or an
    // oversize memory file degrades the agent.
    degradedBy: () => [
      ...llm.health().providers.flatMap((p) => (p.state === "degraded" ? p.reasons : [])),
      ...llm.reasons(),
      ...memory.reasons(),
    ],
    publish: (drafts) => bus.publish(drafts),
    onChange: () => heartbeat.kick(),
    log: log.child("prober"),
  });
  const heartbeat = new HeartbeatSender({
    url: config.shipper.url,
    token: ingestToken,
    intervalMs: config.heartbeat.intervalMs,
    timeoutMs: config.shipper.timeoutMs,
    source,
    health: () => prober.health(),
    stats: () => stats.snapshot(),
    config: sharedConfig(config),
    openclawConfig: config.memory.openclawConfig ?? config.llm.openclawConfig,
    maxClockSkewMs: config.heartbeat.maxClockSkewMs,
    log: log.child("heartbeat"),
  });
  return { stats, prober, heartbeat };
}

/** The sidecar's API (and the LLM proxy on its port), started last; `url` once it listens. */
function apiOf(
  ctx: Context,
  { shipper }: Delivery,
  { llm, inbox, memory, blobShipper }: Sources,
  { stats, prober, heartbeat }: Watch,
): { api: Component; url(): string | undefined } {
  const { config, log, source, spool, spill, token, host, port } = ctx;
  let server: Listening | undefined;
  const metricsAgent = () => {
    const health = prober.health();
    const clock = heartbeat.clock;
    const now = isoTime(new Date());
    return {
      agent: source.agent,
      role: source.role,
      state: health.state,
      probes: health.probes,
      lastSeen: now,
      stale: false,
      clockOffset: { offsetMs: clock?.offsetMs ?? 0 },
      stats: stats.snapshot(),
    };
  };
  const api: Component = {
    id: "source.api",
    async start() {
      const app = createSidecarApp({
        agent: config.agent,
        workspace: config.workspace,
        tokens: new TokenSet<string>().add(token, config.agent),
        bodyLimitBytes: config.api.bodyLimitBytes,
        spill,
        spool,
        shipper,
        llm,
        health: () => prober.health(),
        clock: () => heartbeat.clock,
        blobs: blobShipper,
        memory,
        metricsAgent,
        inbox: () => inbox.problem,
        disk: () =>
          diskLowReasons(
            [
              { what: "workspace", path: config.workspace },
              { what: "stateDir", path: config.paths.stateDir },
            ],
            config.api.diskLow,
          ),
        log: log.child("api"),
      });
      server = await listen(app.fetch, host, port, llm.handler);
    },
    async stop() {
      // Relays still running after a short grace are cut (the LLM guard records them as aborted).
      await server?.close(API_GRACE_MS);
    },
  };
  return { api, url: () => server?.url };
}

/** What recovery set aside becomes part of the audit trail. */
async function publishQuarantined(spool: Spool, bus: EventBus, source: EventSource): Promise<void> {
  if (spool.quarantined.length === 0) return;
  await bus.publish(
    spool.quarantined.map((q) =>
      draftEvent({
        source,
        type: "spool.quarantined",
        // A write cut short by a crash is expected after kill -9; anything else is damage.
        severity: q.reason.startsWith("truncated") ? "warn" : "error",
        attrs: { where: "spool", ...q },
      }),
    ),
  );
}
