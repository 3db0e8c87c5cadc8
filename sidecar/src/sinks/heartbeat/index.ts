import { createHash } from "node:crypto";
import { canonicalJson } from "@clawguard/shared/chain";
import type { EventSource } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { redactObject } from "@clawguard/shared/redact";
import type { SidecarStats } from "@clawguard/shared/stats";
import { isoTime } from "@clawguard/shared/time";
import { VERSION } from "@clawguard/shared/version";
import { Agent, request } from "../../http-client.ts";
import { readOpenClawFile } from "../../openclaw-file.ts";
import type { Health } from "../../sources/prober/index.ts";

export interface HeartbeatOptions {
  url: string;
  token: string;
  intervalMs: number;
  timeoutMs: number;
  source: EventSource;
  health(): Health;
  /** What the collector's /metrics shows for this agent (counters since the sidecar started). */
  stats?: () => SidecarStats;
  /** What the agent runs with: the sidecar's config, and the agent's openclaw.json when known. */
  config: unknown;
  openclawConfig?: string | undefined;
  /** A clock further than this from the collector's is flagged (readyz: clock.skewed). */
  maxClockSkewMs?: number;
  log: Logger;
}

/** This sidecar's clock against the collector's, measured on the last answered heartbeat. */
export interface ClockOffset {
  /** > 0: this clock is ahead of the collector's. */
  offsetMs: number;
  /** The heartbeat's round trip, the collector's own time excluded: the offset is good to about half of it. */
  rttMs: number;
  measuredAt: string;
  skewed: boolean;
}

/**
 * NTP's arithmetic on one exchange: sent at t0 (this clock), received at t1 and answered at t2 (the
 * collector's), answer here at t3. Returns this clock minus the collector's, and the round trip.
 */
export function measureOffset(
  t0: number,
  t1: number,
  t2: number,
  t3: number,
): { offsetMs: number; rttMs: number } {
  return {
    offsetMs: Math.round((t0 - t1 + (t3 - t2)) / 2),
    rttMs: Math.max(0, Math.round(t3 - t0 - (t2 - t1))),
  };
}

/** The agent's effective configuration, secrets excluded (their values never leave, and rotating one is not drift). */
function effectiveConfig(config: unknown, openclawConfig?: string): unknown {
  let openclaw: unknown = null;
  if (openclawConfig) {
    const read = readOpenClawFile(openclawConfig);
    openclaw = read.state === "read" ? read.doc : { unreadable: openclawConfig };
  }
  return redactObject({ clawguard: config, openclaw });
}

const sha256 = (value: unknown) => createHash("sha256").update(canonicalJson(value)).digest("hex");

/** Keys to this depth get a hash each, so the collector can say which keys differ between agents. */
const KEY_DEPTH = 4;
const MAX_KEYS = 500;

/**
 * The effective configuration (read once) as the heartbeat reports it: one hash of it all (the same
 * config gives the same hash on every agent), and a short hash of each key (dotted paths, to
 * KEY_DEPTH levels) so the collector can say which keys differ.
 */
export function configSummary(
  config: unknown,
  openclawConfig?: string,
): { fingerprint: string; keys: Record<string, string> } {
  const effective = effectiveConfig(config, openclawConfig);
  const keys: Record<string, string> = {};
  const walk = (value: unknown, path: string, depth: number) => {
    if (Object.keys(keys).length >= MAX_KEYS) return;
    const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
    if (!isObject || depth === KEY_DEPTH) {
      keys[path] = sha256(value ?? null).slice(0, 16);
      return;
    }
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      walk(inner, path ? `${path}.${key}` : key, depth + 1);
    }
  };
  walk(effective, "", 0);
  return { fingerprint: sha256(effective), keys };
}

/**
 * Tells the collector, every `intervalMs`, that this agent is alive and how it is (its probes'
 * state and reasons, versions, config fingerprint). A heartbeat is not kept when the collector is
 * down: the next one says the same, and a missing heartbeat is itself the signal (stale).
 */
export class HeartbeatSender implements Component {
  readonly id = "sink.heartbeat";
  readonly #o: HeartbeatOptions;
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
  #fingerprint = "";
  #keys: Record<string, string> = {};
  /** The OpenClaw config file as last read (its stamp), so an edit made while running shows. */
  #openclawStamp: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sending = false;
  #again = false;
  #failing = false;
  #clock: ClockOffset | undefined;
  /** Aborts the heartbeat in flight on stop: a collector that does not answer must not hold the sidecar up. */
  readonly #abort = new AbortController();

  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.#refreshConfig();
  }

  /**
   * OpenClaw reloads its config file when it changes, so drift can begin after start: the file is
   * stat'ed before each heartbeat and hashed again when it changed. clawguard's own config is the
   * one this process runs with, read once.
   */
  #refreshConfig(): void {
    const file = this.#o.openclawConfig;
    const stamp = file ? readOpenClawFile(file).stamp : "none";
    if (stamp === this.#openclawStamp) return;
    this.#openclawStamp = stamp;
    ({ fingerprint: this.#fingerprint, keys: this.#keys } = configSummary(this.#o.config, file));
  }

  async start(): Promise<void> {
    this.#timer = setTimeout(this.#beat, 0).unref();
  }

  /** The clock offset from the collector, once a heartbeat was answered (with the collector's times). */
  get clock(): ClockOffset | undefined {
    return this.#clock;
  }

  /**
   * A heartbeat now, because the agent's state just changed: the collector hears of it at once
   * instead of up to an interval later, and the interval starts over from it. Sent after the one
   * in flight, if any (that one may carry the state from before the change).
   */
  kick(): void {
    if (this.#timer === undefined) return; // not started, or stopped
    if (this.#sending) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#beat, 0).unref();
  }

  #beat = (): void => {
    this.#sending = true;
    void this.send().finally(() => {
      this.#sending = false;
      if (this.#timer === undefined) return;
      const again = this.#again;
      this.#again = false;
      this.#timer = setTimeout(this.#beat, again ? 0 : this.#o.intervalMs).unref();
    });
  };

  /** One heartbeat now; resolves whether or not the collector took it. */
  async send(): Promise<boolean> {
    this.#refreshConfig();
    const health = this.#o.health();
    const body = {
      agent: this.#o.source.agent,
      role: this.#o.source.role,
      host: this.#o.source.host,
      ...(this.#o.source.instance ? { instance: this.#o.source.instance } : {}),
      state: health.state,
      reasons: health.reasons.slice(0, 50).map((r) => r.slice(0, 1000)),
      probes: health.probes.map((p) => ({ name: p.name, state: p.state })),
      versions: { clawguard: VERSION, node: process.version },
      configFingerprint: this.#fingerprint,
      configKeys: this.#keys,
      intervalMs: this.#o.intervalMs,
      ...(this.#o.stats ? { stats: this.#o.stats() } : {}),
      ...(this.#clock ? { clock: { offsetMs: this.#clock.offsetMs, rttMs: this.#clock.rttMs } } : {}),
      time: isoTime(new Date()),
    };
    const sentAt = Date.parse(body.time);
    try {
      const response = await request(new URL("/v1/heartbeats", this.#o.url), {
        method: "POST",
        dispatcher: this.#agent,
        headers: { authorization: `Bearer ${this.#o.token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: this.#abort.signal,
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
      this.#measure(text, sentAt, Date.now());
      if (this.#failing) this.#o.log.info("heartbeats reach the collector again");
      this.#failing = false;
      return true;
    } catch (err) {
      if (this.#abort.signal.aborted) return false;
      // Said once per outage, not every interval.
      if (!this.#failing) this.#o.log.warn("heartbeat not delivered", { error: (err as Error).message });
      this.#failing = true;
      return false;
    }
  }

  /** From the answer's {clock: {received, sent}}; an older collector that sends none leaves it unknown. */
  #measure(text: string, t0: number, t3: number): void {
    let clock: { received?: unknown; sent?: unknown } | undefined;
    try {
      clock = (JSON.parse(text) as { clock?: { received?: unknown; sent?: unknown } }).clock;
    } catch {
      return;
    }
    const [t1, t2] = [Date.parse(String(clock?.received)), Date.parse(String(clock?.sent))];
    if (Number.isNaN(t1) || Number.isNaN(t2)) return;
    const { offsetMs, rttMs } = measureOffset(t0, t1, t2, t3);
    const skewed = Math.abs(offsetMs) > (this.#o.maxClockSkewMs ?? 30_000);
    if (skewed && !this.#clock?.skewed)
      this.#o.log.warn("this clock is off from the collector's: event times will be too", {
        offsetMs,
        rttMs,
        maxClockSkewMs: this.#o.maxClockSkewMs ?? 30_000,
      });
    this.#clock = { offsetMs, rttMs, measuredAt: isoTime(new Date(t3)), skewed };
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#sending && !this.#abort.signal.aborted)
      this.#o.log.info("heartbeat aborted: the sidecar is stopping");
    this.#abort.abort();
    await this.#agent.destroy().catch(() => {});
  }
}
