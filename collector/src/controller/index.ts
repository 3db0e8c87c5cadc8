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
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#tick;
  }

  /** One round: observe the fleet, decide per group, act (leader only). */
  async tick(): Promise<void> {
    const token = await this.#o.lease.acquire();
    if (token === undefined) return;
    const now = this.#o.now?.() ?? Date.now();
    const entries = await this.#o.liveness.list();
    for (const { record, staleSince } of entries) {
      const state = staleSince ? "stale" : record.state;
      if (this.#seen.get(record.agent)?.state !== state) this.#seen.set(record.agent, { state, since: now });
    }
    const staleShare = entries.length === 0 ? 0 : entries.filter((e) => e.staleSince).length / entries.length;
    for (const config of this.#o.groups) {
      const group = this.#groups.get(config.name) as GroupMemory;
      const target = (agent: string) => config.targets[agent] as string;
      if (!(await getRoute(this.#o.lease, config.name))) {
        await setRoute(this.#o.lease, this.#o.redis, this.#o.prefix, {
          group: config.name,
          target: target(group.primary),
          token,
        });
      }
      const decision = decide(group, (agent) => this.#seen.get(agent), staleShare, now, this.#o.policy);
      this.#say(config.name, decision);
      if (decision.action === "restart") {
        if (!(await this.#stillLeader(token))) return;
        group.restarts.push(now);
        await this.#o.actuator.restart(decision.agent, target(decision.agent), token);
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
    this.#groups.set(config.name, { primary: to, standby: from, restarts: [], lastFailoverAt: now });
    this.#seen.delete(from);
    log.warn("failover done", { group: config.name, primary: to, target: toTarget, token });
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
