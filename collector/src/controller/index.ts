import { connect } from "node:net";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import type { Redis } from "ioredis";
import type { LivenessStore } from "../store/liveness/index.ts";
import type { Actuator } from "./actuators.ts";
import { type Decision, decide, type GroupMemory, type Observation, type Policy } from "./decide.ts";
import type { Lease } from "./lease.ts";
import { getRoute, setRoute } from "./routes.ts";

export { type Actuator, commandActuator, dockerActuator, webhookActuator } from "./actuators.ts";

/** A gateway group: a primary, its standby (same state volume), and where each listens. */
export interface GroupConfig {
  name: string;
  primary: string;
  standby: string;
  /** Agent name to the URL clients reach it on (the route's target). */
  targets: Record<string, string>;
}

export interface ControllerOptions {
  lease: Lease;
  liveness: LivenessStore;
  /** For route change notifications (none: routers poll). */
  redis?: Redis | undefined;
  prefix: string;
  groups: GroupConfig[];
  actuator: Actuator;
  policy: Policy;
  tickMs: number;
  /** How long a fenced primary may take to go down, and a started standby to answer /readyz. */
  downTimeoutMs: number;
  readyTimeoutMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * The failover controller. Acts only while it holds the lease, and checks before every step that
 * it still does (a paused leader that lost it stops there); routes are written under its fencing
 * token, so even a step already under way cannot repoint clients once a newer leader exists.
 * Per group: restart an unhealthy primary in place (with backoff, within a budget); when that is
 * spent or the primary is stale, fence it (stop it and confirm it is down: two gateways on one
 * state must never run), start the standby on the same state, wait until it is ready, repoint.
 */
export class Controller implements Component {
  readonly id = "controller";
  readonly #o: ControllerOptions;
  readonly #groups = new Map<string, GroupMemory>();
  readonly #seen = new Map<string, Observation>();
  readonly #said = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #renewer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ControllerOptions) {
    this.#o = options;
    for (const g of options.groups)
      this.#groups.set(g.name, { primary: g.primary, standby: g.standby, restarts: [] });
  }

  /** The group's primary and standby as the controller now sees them (they swap on failover). */
  group(name: string): GroupMemory | undefined {
    return this.#groups.get(name);
  }

  async start(): Promise<void> {
    const loop = () => {
      if (this.#stopped) return;
      this.#tick = this.tick()
        .catch((err) => this.#o.log.error("controller tick failed", { error: (err as Error).message }))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.tickMs).unref();
        });
    };
    loop();
    // The lease is also renewed on its own clock, not only between steps: a step can outlast it
    // (a standby getting ready, OpenClaw takes ~13 s; a slow actuator), and a leader that stopped
    // renewing meanwhile would let another replica take over the same group mid-failover. A
    // paused or cut-off replica renews nothing, so it still loses the lease as it should.
    this.#renewer = setInterval(() => {
      this.#o.lease.acquire().catch(() => {});
    }, this.#o.tickMs).unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#renewer) clearInterval(this.#renewer);
    await this.#tick;
  }

  /** One round: observe the fleet, decide per group, act (leader only). */
  async tick(): Promise<void> {
    const token = await this.#o.lease.acquire();
    if (token === undefined) return;
    const now = this.#o.now?.() ?? Date.now();
    const entries = await this.#o.liveness.list();
    const staleShare = entries.length === 0 ? 0 : entries.filter((e) => e.staleSince).length / entries.length;
    // While most of the fleet is stale the controller holds, and that time does not count towards
    // an agent's hysteresis: as the fleet comes back (in any order), the last agents back are not
    // failed over at once for a staleness that was the collector's network's.
    const holding = staleShare > this.#o.policy.holdStaleShare;
    const lastSeen = new Map(entries.map((e) => [e.record.agent, Date.parse(e.record.lastSeen)]));
    for (const { record, staleSince } of entries) {
      const state = staleSince ? "stale" : record.state;
      if (this.#seen.get(record.agent)?.state !== state || (holding && state === "stale"))
        this.#seen.set(record.agent, { state, since: now });
    }
    for (const config of this.#o.groups) {
      // The group's memory (which one is primary, the restarts, the last failover) is the fleet's,
      // not this replica's: a new leader goes on from where the last one left it.
      const shared = await this.#o.lease.fencedGet(`group:${config.name}`);
      if (shared) this.#groups.set(config.name, JSON.parse(shared.value) as GroupMemory);
      const group = this.#groups.get(config.name) as GroupMemory;
      const target = (agent: string) => config.targets[agent] as string;
      if (!(await getRoute(this.#o.lease, config.name))) {
        await setRoute(this.#o.lease, this.#o.redis, this.#o.prefix, {
          group: config.name,
          target: target(group.primary),
          token,
        });
      }
      // A gateway promoted by a failover was ready when the route moved to it; what its record said
      // before that (stale, while it stood by) is not news of it: not heard from until it reports.
      const promoted = group.lastFailoverAt;
      const observe = (agent: string) =>
        promoted !== undefined && agent === group.primary && (lastSeen.get(agent) ?? 0) < promoted
          ? undefined
          : this.#seen.get(agent);
      const decision = decide(group, observe, staleShare, now, this.#o.policy);
      this.#say(config.name, decision);
      if (decision.action === "restart") {
        if (!(await this.#stillLeader(token))) return;
        group.restarts = [...group.restarts.filter((t) => now - t < this.#o.policy.restartWindowMs), now];
        if (!(await this.#remember(config.name, group, token))) return;
        await this.#o.actuator.restart(decision.agent, target(decision.agent), token);
        // Its state from before the restart says nothing about it now: observed afresh (hysteresis).
        this.#seen.delete(decision.agent);
      } else if (decision.action === "failover") {
        await this.#failover(config, group, token, now);
      }
    }
  }

  async #failover(config: GroupConfig, group: GroupMemory, token: number, now: number): Promise<void> {
    const { log, actuator } = this.#o;
    const [from, to] = [group.primary, group.standby];
    const [fromTarget, toTarget] = [config.targets[from] as string, config.targets[to] as string];
    if (!(await this.#stillLeader(token))) return;
    log.warn("failover: fencing the primary", { group: config.name, from, to, token });
    await actuator
      .stop(from, fromTarget, token)
      .catch((err) => log.warn("stopping the primary failed", { error: (err as Error).message }));
    if (!(await until(() => refused(fromTarget), this.#o.downTimeoutMs))) {
      log.error(
        "failover held: the primary is not confirmed down, the standby is not started (one state, one gateway)",
        {
          group: config.name,
          from,
        },
      );
      return;
    }
    if (!(await this.#stillLeader(token))) return;
    await actuator.start(to, toTarget, token);
    if (!(await until(() => ready(toTarget), this.#o.readyTimeoutMs))) {
      log.error("failover stalled: the standby did not become ready", { group: config.name, to });
      return;
    }
    const routed = await setRoute(this.#o.lease, this.#o.redis, this.#o.prefix, {
      group: config.name,
      target: toTarget,
      token,
    });
    if (!routed) {
      log.warn("failover: the route was not changed, a newer leader holds the lease", {
        group: config.name,
        token,
      });
      return;
    }
    const swapped = { primary: to, standby: from, restarts: [], lastFailoverAt: now };
    this.#groups.set(config.name, swapped);
    await this.#remember(config.name, swapped, token);
    // Both are observed afresh (hysteresis from now): what was seen of the fenced one is over, and
    // what was seen of the new primary is from before it was started (often "stale" since its last
    // fencing, long enough ago to fail back at once, before its sidecar's first heartbeat).
    this.#seen.delete(from);
    this.#seen.delete(to);
    log.warn("failover done", { group: config.name, primary: to, target: toTarget, token });
  }

  /** Stores the group's memory for every replica under `token`; false (nothing stored) when it is stale. */
  async #remember(name: string, group: GroupMemory, token: number): Promise<boolean> {
    if (await this.#o.lease.fencedSet(`group:${name}`, JSON.stringify(group), token)) return true;
    this.#o.log.warn("lease lost mid-action: stopping here", { token, group: name });
    return false;
  }

  async #stillLeader(token: number): Promise<boolean> {
    const held = await this.#o.lease.acquire();
    if (held === token) return true;
    this.#o.log.warn("lease lost mid-action: stopping here", { token, now: held ?? null });
    return false;
  }

  #say(group: string, decision: Decision): void {
    const line = `${decision.action}: ${decision.why}`;
    if (this.#said.get(group) === line) return;
    this.#said.set(group, line);
    this.#o.log.info("controller", { group, decision: decision.action, why: decision.why });
  }
}

async function until(ok: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether nothing accepts connections at the target any more. */
function refused(target: string): Promise<boolean> {
  const url = new URL(target);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

async function ready(target: string): Promise<boolean> {
  try {
    const response = await fetch(new URL("/readyz", target), { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}
