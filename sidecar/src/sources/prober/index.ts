import { draftEvent, type EventDraft, type EventSource } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { isoTime } from "@clawguard/shared/time";
import type { ChatMemory } from "./chat.ts";
import { type ProbeConfig, type ProberConfig, probeIntervalMs } from "./config.ts";
import { ABORTED, type ProbeResult, runProbe } from "./probes.ts";

export type HealthState = "healthy" | "degraded" | "unhealthy" | "unknown";

export interface ProbeStatus {
  name: string;
  kind: ProbeConfig["kind"];
  severity: ProbeConfig["severity"];
  /** unknown until the thresholds have been met once. */
  state: "passing" | "failing" | "unknown";
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  last?: ProbeResult & { at: string };
}

export interface Health {
  state: HealthState;
  reasons: string[];
  probes: ProbeStatus[];
}

export interface ProberOptions {
  config: ProberConfig;
  env: NodeJS.ProcessEnv;
  source: EventSource;
  /** Reasons from elsewhere that make the agent degraded (provider auth, oversize memory). */
  degradedBy?: () => string[];
  publish(drafts: EventDraft[]): Promise<unknown>;
  /** Called on each change of the agent's state (the heartbeat tells the collector at once). */
  onChange?: (health: Health) => void;
  log: Logger;
  /** The clock the chat probes' sessions are taken from (tests). */
  now?: () => number;
}

/**
 * Probes the agent end to end on an interval and keeps its state: unhealthy while a critical
 * probe fails, degraded while a degraded-severity probe fails or something else degrades it
 * (a provider's credential, an oversize memory file), healthy otherwise, unknown until the probes
 * have spoken. A probe changes state only after `failuresToFail` failures (or `successesToPass`
 * successes) in a row, so one slow answer does not flap it. Each change of the agent's state is a
 * `health.changed` event with the reasons.
 */
export class Prober implements Component {
  readonly id = "source.prober";
  readonly #o: ProberOptions;
  readonly #status: ProbeStatus[];
  /** What each probe carries from one run to the next (a chat probe: its provider's refusal). */
  readonly #memory: ChatMemory[];
  /** When each probe last ran (the prober's clock). */
  readonly #lastRun: (number | undefined)[];
  #state: HealthState = "unknown";
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;
  /** Aborts the probes in flight when the prober stops (a chat probe may take a minute). */
  readonly #abort = new AbortController();
  /** The probes of the round in flight, by index. */
  readonly #running = new Set<number>();

  constructor(options: ProberOptions) {
    this.#o = options;
    this.#status = options.config.probes.map((p) => ({
      name: p.name,
      kind: p.kind,
      severity: p.severity,
      state: "unknown",
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
    }));
    this.#memory = options.config.probes.map(() => ({}));
    this.#lastRun = options.config.probes.map(() => undefined);
  }

  async start(): Promise<void> {
    if (this.#o.config.probes.length === 0) return;
    const tick = () => {
      if (this.#stopped) return;
      this.#round = this.probeOnce().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.config.intervalMs).unref();
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    const running = [...this.#running].map((i) => this.#o.config.probes[i]?.name);
    this.#abort.abort();
    if (running.length > 0) this.#o.log.info("probes aborted: the sidecar is stopping", { probes: running });
    await this.#round?.catch(() => {});
  }

  /**
   * One round of every probe that is due, at once; then the state is worked out again. A probe with
   * an `intervalMs` of its own (a chat probe, whose turns cost tokens) sits out the rounds until
   * that much time has passed since its last run.
   */
  async probeOnce(): Promise<void> {
    const { config } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    const results = await Promise.all(
      config.probes.map((p, i) => {
        if (!this.#due(i, now) || this.#stopped) return undefined;
        this.#lastRun[i] = now;
        this.#running.add(i);
        return runProbe(p, this.#o.env, p.timeoutMs ?? config.timeoutMs, {
          intervalMs: probeIntervalMs(p, config),
          memory: this.#memory[i] as ChatMemory,
          now: this.#o.now,
          signal: this.#abort.signal,
        }).finally(() => this.#running.delete(i));
      }),
    );
    // A probe cut short by the stop says nothing about the agent.
    if (results.some((r) => r?.detail === ABORTED)) return;
    results.forEach((result, i) => {
      if (result) this.#record(this.#status[i] as ProbeStatus, result);
    });
    await this.#update();
  }

  /** Every round, or, with an interval of its own, once that has (about) passed since its last run. */
  #due(i: number, now: number): boolean {
    const probe = this.#o.config.probes[i] as ProbeConfig;
    const last = this.#lastRun[i];
    if (probe.intervalMs === undefined || last === undefined) return true;
    // Rounds are at least the prober's interval apart (it runs from the end of one round to the
    // start of the next), but a timer may fire a little early by the wall clock: a tenth of a round
    // of slack keeps a 30 s probe from waiting for a 4th round of 10 s.
    return now - last + this.#o.config.intervalMs / 10 >= probe.intervalMs;
  }

  #record(status: ProbeStatus, result: ProbeResult): void {
    const { config } = this.#o;
    status.last = { ...result, at: isoTime(new Date()) };
    if (result.ok) {
      status.consecutiveSuccesses++;
      status.consecutiveFailures = 0;
      if (
        status.state !== "passing" &&
        (status.state === "unknown" || status.consecutiveSuccesses >= config.successesToPass)
      ) {
        status.state = "passing";
      }
    } else {
      status.consecutiveFailures++;
      status.consecutiveSuccesses = 0;
      if (status.consecutiveFailures >= config.failuresToFail) status.state = "failing";
    }
  }

  health(): Health {
    const reasons: string[] = [];
    // Nothing probed (no probes, or none has spoken yet): the agent's state is not known.
    let state: HealthState = this.#status.every((s) => s.state === "unknown") ? "unknown" : "healthy";
    for (const s of this.#status) {
      if (s.state !== "failing") continue;
      reasons.push(`${s.name}: ${s.last?.detail ?? "failing"} (${s.consecutiveFailures} in a row)`);
      if (s.severity === "critical") state = "unhealthy";
      else if (state !== "unhealthy") state = "degraded";
    }
    const others = this.#o.degradedBy?.() ?? [];
    reasons.push(...others);
    if (others.length > 0 && (state === "healthy" || state === "unknown")) state = "degraded";
    if (state === "unknown") reasons.push(this.#unknownBecause());
    return { state, reasons, probes: this.#status.map((s) => ({ ...s })) };
  }

  /** Why the agent's state is not known: /readyz and the fleet say it rather than nothing. */
  #unknownBecause(): string {
    if (this.#status.length === 0)
      return "no health checks configured: set probe.probes (an http probe of the gateway, a chat probe) to know the agent's state";
    const names = this.#status.map((s) => s.name).join(", ");
    return `no probe has passed yet, nor failed ${this.#o.config.failuresToFail} times in a row: ${names}`;
  }

  async #update(): Promise<void> {
    const health = this.health();
    if (health.state === this.#state) return;
    const from = this.#state;
    this.#state = health.state;
    this.#o.log.info("health changed", { from, to: health.state, reasons: health.reasons });
    this.#o.onChange?.(health);
    await this.#o.publish([
      draftEvent({
        source: this.#o.source,
        type: "health.changed",
        severity: health.state === "unhealthy" ? "error" : health.state === "degraded" ? "warn" : "info",
        attrs: { from, to: health.state, reasons: health.reasons },
      }),
    ]);
  }
}
