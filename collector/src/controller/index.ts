import { describeError } from "@clawguard/shared/errors";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import { connectOnce } from "@clawguard/shared/net";
import type { Redis } from "ioredis";
import type { ActionNote } from "../store/incident-store.ts";
import type { LivenessEntry, LivenessStore } from "../store/liveness/index.ts";
import type { Actuator } from "./actuators.ts";
import {
  type Decision,
  decide,
  decideRestart,
  type FleetStale,
  fleetHolds,
  type GroupMemory,
  type HoldReason,
  type Observation,
  type Policy,
  type RestartMemory,
  recentRestarts,
} from "./decide.ts";
import type { Lease } from "./lease.ts";
import { getRoute, mirrorRoute, type Route, setRoute } from "./routes.ts";

export { type Actuator, commandActuator, dockerActuator, webhookActuator } from "./actuators.ts";

/** A gateway group: a primary, its standby (same state volume), and where each listens. */
export interface GroupConfig {
  name: string;
  primary: string;
  standby: string;
  /** Agent name to the URL clients reach it on (the route's target). */
  targets: Record<string, string>;
}

/** Agents with no standby, restarted in place the same way as a group's primary (`controller.restart`). */
export interface RestartConfig {
  /** By name, and every agent whose heartbeat role is one of `roles`; a group's agents never. */
  agents: string[];
  roles: string[];
  /** Where those that have one listen (for {target} and {port}); the others get none. */
  targets: Record<string, string>;
}

/** Where the controller records what it did to an agent: the agent's incident (IncidentStore). */
export interface ActionRecorder {
  note(agent: string, note: ActionNote): Promise<unknown>;
}

export interface ControllerOptions {
  lease: Lease;
  liveness: LivenessStore;
  /** For route change notifications (none: routers poll). */
  redis?: Redis | undefined;
  /**
   * Why the controller must not lead on this Redis (an evicting maxmemory-policy), checked every
   * `redisCheckMs`: while it says so, the lease is let go and nothing is done (redis-policy.ts).
   */
  redisCheck?: (() => Promise<string | undefined>) | undefined;
  redisCheckMs?: number;
  prefix: string;
  groups: GroupConfig[];
  restart?: RestartConfig | undefined;
  actuator: Actuator;
  /** Each action carried out, and each new reason to hold, in the agent's incident (none: only logged). */
  incidents?: ActionRecorder | undefined;
  policy: Policy;
  /** fleet.staleFactor: an agent is stale after this many missed heartbeat intervals. */
  staleFactor: number;
  tickMs: number;
  /** How long a fenced primary may take to go down, and a started standby to answer /readyz. */
  downTimeoutMs: number;
  readyTimeoutMs: number;
  log: Logger;
  now?: () => number;
  /**
   * Whether this collector is just back from a stall of its own (fleet/stall.ts): the controller
   * holds then, as it does while most of the fleet is stale.
   */
  stalled?: (() => boolean) | undefined;
}

/** What one tick saw of the fleet, passed to each group's round. */
interface Round {
  unheard: Map<string, Observation | undefined>;
  stale: FleetStale;
  now: number;
  token: number;
}

/**
 * The failover controller. Acts only while it holds the lease, and checks before every step that
 * it still does (a paused leader that lost it stops there); routes are written under its fencing
 * token, so even a step already under way cannot repoint clients once a newer leader exists.
 * Per group: restart an unhealthy primary in place (with backoff, within a budget); when that is
 * spent or the primary is stale, fence it (stop it and confirm it is down: two gateways on one
 * state must never run), start the standby on the same state, wait until it is ready, repoint.
 * Agents with no standby (`restart`) are restarted in place the same way; when their budget is
 * spent the controller holds and says what a person can do. Every action, and every new reason to
 * hold, goes into the agent's incident with the fencing token.
 */
export class Controller implements Component {
  readonly id = "controller";
  readonly #o: ControllerOptions;
  readonly #groups = new Map<string, GroupMemory>();
  readonly #seen = new Map<string, Observation>();
  readonly #said = new Map<string, string>();
  /** Per agent, the reason of the hold last recorded in its incident. */
  readonly #held = new Map<string, HoldReason>();
  /**
   * Per group primary with no heartbeat on record (Redis lost its data, or it was never heard from
   * since it was promoted): when this leader first found it so. Reset when the token changes.
   */
  readonly #unheard = new Map<string, number>();
  /**
   * Each agent's heartbeat interval as last seen by this replica or, through the durable store
   * (INTERVALS_KEY, written by each leader), by any leader before it: its record may go with
   * Redis's data, and a new leader may never have seen it.
   */
  readonly #intervals = new Map<string, number>();
  /** The intervals as this leader last wrote them to the durable store (JSON). */
  #intervalsWritten = "";
  #ledUnder: number | undefined;
  /**
   * When this leadership began: a heartbeat from before it may have been missed while no collector
   * listened (the whole project stopped and started again), so it proves nothing either way.
   */
  #ledSince = 0;
  /** What redisCheck last said, and when it was asked (wall clock). */
  #refused: string | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;
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
    // A tick fails while Redis or the store is unreachable: the controller does nothing then, and
    // says so once per outage (per distinct error), not at every tick.
    let failing: string | undefined;
    const loop = () => {
      if (this.#stopped) return;
      this.#tick = this.tick()
        .then(
          () => {
            if (failing !== undefined) this.#o.log.info("controller ticks again", { after: failing });
            failing = undefined;
          },
          (err) => {
            const error = describeError(err);
            if (error !== failing) this.#o.log.error("controller tick failed", { error });
            failing = error;
          },
        )
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
      if (this.#refused === undefined) this.#o.lease.acquire().catch(() => {});
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
    if (await this.#refuses()) return;
    const token = await this.#o.lease.acquire();
    if (token === undefined) return;
    if (token !== this.#ledUnder) await this.#takeUp(token);
    const now = this.#o.now?.() ?? Date.now();
    const entries = await this.#o.liveness.list();
    const lastSeen = new Map(entries.map((e) => [e.record.agent, Date.parse(e.record.lastSeen)]));
    const groups: { config: GroupConfig; group: GroupMemory }[] = [];
    for (const config of this.#o.groups) {
      // The group's memory (which one is primary, the restarts, the last failover) is the fleet's,
      // not this replica's: a new leader goes on from where the last one left it.
      const shared = await this.#o.lease.fencedGet(`group:${config.name}`);
      if (shared) this.#groups.set(config.name, JSON.parse(shared.value) as GroupMemory);
      groups.push({ config, group: this.#groups.get(config.name) as GroupMemory });
    }
    const { unheard, stale } = await this.#observe(entries, groups, lastSeen, now, token);
    for (const { config, group } of groups) {
      if (!(await this.#tickGroup(config, group, { unheard, stale, now, token }))) return;
    }
    await this.#tickRestarts(entries, stale, now, token);
  }

  /**
   * A new leadership: "not heard from" is counted from now, not from what another term saw.
   * The intervals first: should the store fail, the next tick takes the leadership up again.
   */
  async #takeUp(token: number): Promise<void> {
    await this.#loadIntervals();
    this.#ledUnder = token;
    this.#unheard.clear();
    this.#ledSince = this.#o.now?.() ?? Date.now();
  }

  /** The agents restarted on their own (config.restart), outside any group. */
  async #tickRestarts(
    entries: readonly LivenessEntry[],
    stale: FleetStale,
    now: number,
    token: number,
  ): Promise<void> {
    const restart = this.#o.restart;
    if (!restart) return;
    const grouped = new Set(this.#o.groups.flatMap((g) => [g.primary, g.standby]));
    const agents = new Set([
      ...restart.agents,
      ...entries.filter((e) => restart.roles.includes(e.record.role)).map((e) => e.record.agent),
    ]);
    for (const agent of [...agents].filter((a) => !grouped.has(a)).sort()) {
      // Its restarts are the fleet's, like a group's memory: a new leader keeps to the same budget.
      const key = `restart:${agent}`;
      const shared = await this.#o.lease.fencedGet(key);
      const memory = shared ? (JSON.parse(shared.value) as RestartMemory) : { restarts: [] };
      const decision = decideRestart(agent, memory, this.#seen.get(agent), stale, now, this.#o.policy);
      this.#say({ agent }, decision);
      await this.#noteHold(agent, decision, token);
      if (decision.action !== "restart") continue;
      if (!(await this.#stillLeader(token))) return;
      const restarts = [...recentRestarts(memory.restarts, now, this.#o.policy), now];
      if (!(await this.#remember(key, { restarts } satisfies RestartMemory, token))) return;
      await this.#restart(decision, restart.targets[agent], token);
    }
  }

  /** One group's round: its route kept, its primary judged, the action carried out; false: stop this tick. */
  async #tickGroup(
    config: GroupConfig,
    group: GroupMemory,
    { unheard, stale, now, token }: Round,
  ): Promise<boolean> {
    const target = (agent: string) => config.targets[agent] as string;
    if (!(await this.#keepRoute(config, target(group.primary), token))) return false;
    // A primary with no heartbeat on record is not heard from until the staleness window has
    // passed, then stale (unheardPrimaries); the others as last seen.
    const observe = (agent: string) =>
      agent === group.primary && unheard.has(agent) ? unheard.get(agent) : this.#seen.get(agent);
    // A silent sidecar is not a dead gateway: the gateway's own address says which it is.
    const answers =
      observe(group.primary)?.state === "stale" ? await ready(target(group.primary)) : undefined;
    let decision = decide(group, observe, stale, now, this.#o.policy, answers);
    if (decision.action === "restart-sidecar" && !this.#o.actuator.restartSidecar)
      decision = {
        action: "hold",
        reason: "sidecar-silent",
        why: `${decision.why.replace(/; restart its sidecar.*$/, "")}; this actuator cannot restart a sidecar (the docker actuator in compose mode can): restart it by hand`,
      };
    this.#say({ group: config.name }, decision);
    await this.#noteHold(group.primary, decision, token);
    if (decision.action === "restart" || decision.action === "restart-sidecar") {
      if (!(await this.#stillLeader(token))) return false;
      const sidecar = decision.action === "restart-sidecar";
      if (sidecar)
        group.sidecarRestarts = [...recentRestarts(group.sidecarRestarts ?? [], now, this.#o.policy), now];
      else group.restarts = [...recentRestarts(group.restarts, now, this.#o.policy), now];
      if (!(await this.#remember(`group:${config.name}`, group, token))) return false;
      await this.#restart(decision, target(decision.agent), token);
    } else if (decision.action === "failover") {
      await this.#failover(config, group, token, now);
    }
    return true;
  }

  /**
   * The group's route: written first when there is none; else copied to Redis when its copy there
   * is missing or older, or overwritten when it names a newer token than the durable route (a
   * forged copy: every leader writes the durable store first; mirrorRoute). False: a newer leader
   * exists, this one stepped down.
   */
  async #keepRoute(config: GroupConfig, primaryTarget: string, token: number): Promise<boolean> {
    const route = await getRoute(this.#o.lease, config.name);
    if (!route) {
      const first = { group: config.name, target: primaryTarget, token };
      const forged = (f: { target: string; token: number }) => this.#forged(config, first, f, token);
      if (await setRoute(this.#o.lease, this.#o.redis, this.#o.prefix, first, forged)) return true;
      await this.#stepDown(token, `route:${config.name}`);
      return false;
    }
    const mirrored = await mirrorRoute(this.#o.redis, this.#o.prefix, route, this.#o.lease);
    if (mirrored.outcome === "forged") await this.#forged(config, route, mirrored, token);
    else if (mirrored.outcome === "copied")
      // Redis lost its copy (or had an older one): the routers get the durable one back.
      this.#o.log.warn("route copied back to Redis", { group: config.name, target: route.target });
    return true;
  }

  /**
   * A route in Redis no leader wrote, replaced by the durable one: said loudly (an error logged, an
   * entry in the group's primary's incident: clawguard_controller_actions_total{action="route-forged"}
   * and the ClawguardFailover rule), as someone who can write Redis tried to
   * send the group's clients (and their Authorization headers) elsewhere.
   */
  async #forged(
    config: GroupConfig,
    route: Route,
    forged: { target: string; token: number },
    token: number,
  ): Promise<void> {
    const granted = await this.#o.lease.granted().catch(() => token);
    const detail = `the route of group ${config.name} in Redis was forged: ${JSON.stringify(forged.target)} under token ${forged.token} (the newest token ever granted is ${granted}; the durable route is ${route.target} under token ${route.token}): replaced by the durable route. Someone who can write clawguard's Redis tried to send the group's clients elsewhere: keep Redis on a network agents cannot reach, rotate its password`;
    this.#o.log.error("forged route replaced", {
      group: config.name,
      forged: forged.target,
      forgedToken: forged.token,
      target: route.target,
      token: route.token,
    });
    const group = this.#groups.get(config.name);
    await this.#note([group?.primary ?? config.primary], "route-forged", detail, token);
  }

  /**
   * What the fleet looks like this tick: each agent's state and since when (#seen), the primaries
   * with no heartbeat on record, and how much of the fleet is stale (for the partition hold).
   */
  async #observe(
    entries: readonly LivenessEntry[],
    groups: readonly { config: GroupConfig; group: GroupMemory }[],
    lastSeen: ReadonlyMap<string, number>,
    now: number,
    token: number,
  ): Promise<{ unheard: Map<string, Observation | undefined>; stale: FleetStale }> {
    for (const { record } of entries) this.#intervals.set(record.agent, record.intervalMs);
    await this.#writeIntervals(token);
    const unheard = await this.#unheardPrimaries(groups, lastSeen, now);
    const stale = { ...staleOf(entries, unheard), selfStalled: this.#o.stalled?.() ?? false };
    // While most of the fleet is stale the controller holds, and that time does not count towards
    // an agent's hysteresis: as the fleet comes back (in any order), the last agents back are not
    // failed over at once for a staleness that was the collector's network's. The same while this
    // collector is just back from a stall of its own (stalled: SIGSTOP, a frozen VM): staleness
    // measured across its own pause is its, not the fleet's.
    const holding = fleetHolds(stale, this.#o.policy);
    for (const { record, staleSince } of entries) {
      const state = staleSince ? "stale" : record.state;
      if (this.#seen.get(record.agent)?.state !== state || (holding && state === "stale"))
        this.#seen.set(record.agent, { state, since: now });
    }
    for (const [agent, seen] of unheard) {
      if (holding) this.#unheard.set(agent, now);
      else if (seen) await this.#noteUnheard(agent, seen, token);
    }
    return { unheard, stale };
  }

  /**
   * Whether Redis is set up so the lease cannot hold (its keys evicted): then the lease is let go
   * and nothing is done, said once, until it is fixed. Asked every redisCheckMs (default 10 s).
   */
  async #refuses(): Promise<boolean> {
    const check = this.#o.redisCheck;
    if (!check || Date.now() - this.#checkedAt < (this.#o.redisCheckMs ?? 10_000))
      return this.#refused !== undefined;
    this.#checkedAt = Date.now();
    const refused = await check();
    if (refused !== this.#refused) {
      if (refused) this.#o.log.error("controller holds: it will not lead on this Redis", { why: refused });
      else this.#o.log.info("controller leads again: the Redis setting is fixed");
    }
    this.#refused = refused;
    if (refused) await this.#o.lease.release().catch(() => {});
    return refused !== undefined;
  }

  /**
   * Group primaries with no heartbeat on record: none in liveness (Redis lost its data; its sidecar
   * was stopped with it and will not report again), none since it was promoted (what its record
   * said while it stood by is not news of it), or none since this leadership began (heartbeats
   * sent while no collector ran were lost: after `docker compose down` and `up`, Redis may still
   * hold last seens from before the stop, stale to a collector that has just started). Each is not heard from (undefined) for one staleness
   * window (its heartbeat interval × staleFactor) from when this leader first found it so; then,
   * unless its target still answers /readyz (a gateway serving with no sidecar is left alone),
   * stale: never "not heard from yet" for ever, which would keep clients on a dead gateway.
   */
  async #unheardPrimaries(
    groups: readonly { config: GroupConfig; group: GroupMemory }[],
    lastSeen: ReadonlyMap<string, number>,
    now: number,
  ): Promise<Map<string, Observation | undefined>> {
    const unheard = new Map<string, Observation | undefined>();
    for (const { config, group } of groups) {
      const agent = group.primary;
      const seen = lastSeen.get(agent);
      const heardSince = Math.max(group.lastFailoverAt ?? 0, this.#ledSince);
      if (seen !== undefined && seen >= heardSince) {
        this.#unheard.delete(agent);
        continue;
      }
      const from = this.#unheard.get(agent) ?? now;
      this.#unheard.set(agent, from);
      const overdue = from + this.#windowOf(agent).ms;
      const down = now > overdue && !(await ready(config.targets[agent] as string));
      unheard.set(agent, down ? { state: "stale", since: overdue } : undefined);
    }
    return unheard;
  }

  /**
   * The staleness window of an agent (its heartbeat interval × staleFactor) and where the interval
   * comes from: its own as last seen by any leader, else the fleet's longest, else the sidecar's default.
   */
  #windowOf(agent: string): { ms: number; why: string } {
    const own = this.#intervals.get(agent);
    const longest = Math.max(0, ...this.#intervals.values());
    const [interval, whose] =
      own !== undefined
        ? [own, "its heartbeat interval as last seen"]
        : longest > 0
          ? [longest, "the longest heartbeat interval in the fleet (its own was never seen)"]
          : [DEFAULT_HEARTBEAT_MS, "the sidecar's default heartbeat interval (none was ever seen)"];
    const ms = Math.round(interval * this.#o.staleFactor);
    return { ms, why: `${ms} ms: ${whose}, ${interval} ms, × fleet.staleFactor ${this.#o.staleFactor}` };
  }

  /** A new leader takes the intervals its predecessors saw (Redis may have lost the records since). */
  async #loadIntervals(): Promise<void> {
    const stored = await this.#o.lease.fencedGet(INTERVALS_KEY);
    if (!stored) return;
    for (const [agent, ms] of Object.entries(JSON.parse(stored.value) as Record<string, number>))
      if (!this.#intervals.has(agent) && Number.isInteger(ms) && ms > 0) this.#intervals.set(agent, ms);
  }

  /** Writes the intervals to the durable store when they changed (a refusal: a newer leader has them). */
  async #writeIntervals(token: number): Promise<void> {
    const json = JSON.stringify(
      Object.fromEntries([...this.#intervals].sort(([a], [b]) => (a < b ? -1 : 1))),
    );
    if (json === this.#intervalsWritten) return;
    if (await this.#o.lease.fencedSet(INTERVALS_KEY, json, token)) this.#intervalsWritten = json;
  }

  /** Records once per leadership that a primary with no heartbeat on record now counts as stale. */
  async #noteUnheard(agent: string, seen: Observation, token: number): Promise<void> {
    if (this.#seen.get(agent)?.state === "stale" && this.#seen.get(agent)?.since === seen.since) return;
    this.#seen.set(agent, seen);
    const from = new Date(this.#unheard.get(agent) ?? seen.since).toISOString();
    const detail = `${agent} has no heartbeat on record since ${from} (this leader's first look) for its staleness window (${this.#windowOf(agent).why}): counted as stale (its sidecar is gone, or Redis lost its record and it has not reported since)`;
    this.#o.log.warn("primary not heard from: counted as stale", { agent, since: from, token });
    await this.#note([agent], "unheard", detail, token);
  }

  /**
   * Restarts an agent in place (already counted against its budget) and records it; a failure is
   * logged and recorded, and the next attempt waits out the backoff like any other.
   */
  async #restart(
    decision: Extract<Decision, { action: "restart" | "restart-sidecar" }>,
    target: string | undefined,
    token: number,
  ): Promise<void> {
    const { agent } = decision;
    const sidecar = decision.action === "restart-sidecar";
    try {
      if (sidecar) await this.#o.actuator.restartSidecar?.(agent, target, token);
      else await this.#o.actuator.restart(agent, target, token);
    } catch (err) {
      this.#o.log.error(`${sidecar ? "sidecar restart" : "restart in place"} failed`, {
        agent,
        token,
        error: describeError(err),
      });
      await this.#note(
        [agent],
        sidecar ? "sidecar-restart-failed" : "restart-failed",
        `${decision.why}; the restart failed: ${describeError(err)}`,
        token,
      );
      return;
    }
    this.#o.log.warn(sidecar ? "sidecar restarted" : "restarted in place", {
      agent,
      attempt: decision.attempt,
      token,
    });
    await this.#note([agent], sidecar ? "sidecar-restart" : "restart", decision.why, token);
    // Its state from before the restart says nothing about it now: observed afresh (hysteresis).
    this.#seen.delete(agent);
  }

  async #failover(config: GroupConfig, group: GroupMemory, token: number, now: number): Promise<void> {
    const { log, actuator } = this.#o;
    const [from, to] = [group.primary, group.standby];
    const [fromTarget, toTarget] = [config.targets[from] as string, config.targets[to] as string];
    if (!(await this.#stillLeader(token))) return;
    const of = `failover of group ${config.name} from ${from} to ${to}`;
    log.warn("failover: fencing the primary", { group: config.name, from, to, token });
    let stopFailed = "";
    await actuator.stop(from, fromTarget, token).catch((err) => {
      stopFailed = ` (the stop failed: ${describeError(err)})`;
      log.warn("stopping the primary failed", { error: describeError(err) });
    });
    if (!(await until(() => refused(fromTarget), this.#o.downTimeoutMs))) {
      log.error(
        "failover held: the primary is not confirmed down, the standby is not started (one state, one gateway)",
        {
          group: config.name,
          from,
        },
      );
      await this.#note(
        [from],
        "failover-held",
        `${of}: stopped ${from}${stopFailed}, but ${fromTarget} still accepts connections after ${this.#o.downTimeoutMs} ms: ${to} is not started (two gateways must never run on one state); stop ${from} by hand, the controller tries again on its next tick`,
        token,
      );
      return;
    }
    await this.#note(
      [from],
      "fence",
      `${of}: stopped ${from}${stopFailed}, confirmed down (nothing accepts connections at ${fromTarget})`,
      token,
    );
    if (!(await this.#stillLeader(token))) return;
    await actuator.start(to, toTarget, token);
    await this.#note(
      [from, to],
      "standby-started",
      `${of}: started ${to} on the same state, waiting for /readyz at ${toTarget}`,
      token,
    );
    if (!(await until(() => ready(toTarget), this.#o.readyTimeoutMs))) {
      log.error("failover stalled: the standby did not become ready", { group: config.name, to });
      await this.#note(
        [from, to],
        "failover-stalled",
        `${of}: ${to} did not answer /readyz at ${toTarget} within ${this.#o.readyTimeoutMs} ms; clients still go to ${from} (fenced); read ${to}'s logs, the controller tries again on its next tick`,
        token,
      );
      return;
    }
    const route = { group: config.name, target: toTarget, token };
    const routed = await setRoute(this.#o.lease, this.#o.redis, this.#o.prefix, route, (f) =>
      this.#forged(config, route, f, token),
    );
    if (!routed) return this.#stepDown(token, `route:${config.name}`);
    const swapped = { primary: to, standby: from, restarts: [], lastFailoverAt: now };
    this.#groups.set(config.name, swapped);
    await this.#remember(`group:${config.name}`, swapped, token);
    await this.#note(
      [from, to],
      "route-switched",
      `${of}: clients now go to ${to} at ${toTarget}; ${from} is the standby`,
      token,
    );
    // Both are observed afresh (hysteresis from now): what was seen of the fenced one is over, and
    // what was seen of the new primary is from before it was started (often "stale" since its last
    // fencing, long enough ago to fail back at once, before its sidecar's first heartbeat).
    this.#seen.delete(from);
    this.#seen.delete(to);
    log.warn("failover done", { group: config.name, primary: to, target: toTarget, token });
  }

  /** Stores a group's or an agent's memory for every replica under `token`; false (nothing stored) when it is stale. */
  async #remember(key: string, memory: GroupMemory | RestartMemory, token: number): Promise<boolean> {
    if (await this.#o.lease.fencedSet(key, JSON.stringify(memory), token)) return true;
    await this.#stepDown(token, key);
    return false;
  }

  /**
   * A write under `token` was refused by the durable store: a newer token was granted, so this
   * replica is not the leader whatever Redis says (it may have lost its data or come back from an
   * old snapshot). It lets the lease go and acts no more under that token: no retry of the same
   * step at the next tick, the leader of the newer token carries on.
   */
  async #stepDown(token: number, key: string): Promise<void> {
    this.#o.log.warn("lease lost mid-action: a newer token was granted; stepping down", { token, key });
    await this.#o.lease.release().catch(() => {});
  }

  /** Records a hold in the agent's incident when its reason is new (the `why` changes by the tick). */
  async #noteHold(agent: string, decision: Decision, token: number): Promise<void> {
    const reason = decision.action === "hold" ? decision.reason : undefined;
    if (this.#held.get(agent) === reason) return;
    if (reason === undefined) {
      this.#held.delete(agent);
      return;
    }
    this.#held.set(agent, reason);
    await this.#note([agent], reason === "budget-spent" ? "budget-spent" : "hold", decision.why, token);
  }

  /** Records an action in each agent's incident; a failure to record is logged, never stops the action. */
  async #note(agents: string[], action: string, detail: string, token: number): Promise<void> {
    const incidents = this.#o.incidents;
    if (!incidents) return;
    const at = new Date(this.#o.now?.() ?? Date.now()).toISOString();
    // An action under a token no longer the newest (this replica was paused mid-step, a newer
    // leader took over) did happen, and is recorded, but marked: the newer leader's entries rule.
    const newest = await this.#o.lease.granted().catch(() => token);
    const note =
      newest > token
        ? {
            action: `stale-${action}`,
            detail: `under token ${token}, superseded by token ${newest} (this replica was paused or cut off mid-step): ${detail}`,
            token,
            at,
          }
        : { action, detail, token, at };
    for (const agent of agents) {
      await incidents.note(agent, note).catch((err) =>
        this.#o.log.warn("controller action not recorded in the incident", {
          agent,
          action,
          error: describeError(err),
        }),
      );
    }
  }

  async #stillLeader(token: number): Promise<boolean> {
    const held = await this.#o.lease.acquire();
    if (held === token) return true;
    this.#o.log.warn("lease lost mid-action: stopping here", { token, now: held ?? null });
    return false;
  }

  #say(subject: { group: string } | { agent: string }, decision: Decision): void {
    const key = "group" in subject ? `group:${subject.group}` : `agent:${subject.agent}`;
    const line = `${decision.action}: ${decision.why}`;
    if (this.#said.get(key) === line) return;
    this.#said.set(key, line);
    this.#o.log.info("controller", { ...subject, decision: decision.action, why: decision.why });
  }
}

/**
 * The sidecar's default heartbeat interval (sidecar heartbeat.intervalMs): the window of an agent
 * whose interval no leader ever saw.
 */
const DEFAULT_HEARTBEAT_MS = 5_000;
/** The fenced key of each agent's heartbeat interval as last seen by a leader. */
const INTERVALS_KEY = "heartbeat-intervals";

/**
 * The stale agents and their share of the fleet: a primary with no heartbeat on record counts as
 * one of the fleet once its window has passed (stale), not before; its old record, if any, not at all.
 */
function staleOf(
  entries: readonly LivenessEntry[],
  unheard: ReadonlyMap<string, Observation | undefined>,
): FleetStale {
  const others = entries.filter((e) => !unheard.has(e.record.agent));
  const overdue = [...unheard.values()].filter((seen) => seen !== undefined).length;
  const count = others.filter((e) => e.staleSince).length + overdue;
  const size = others.length + overdue;
  return { count, share: size === 0 ? 0 : count / size };
}

async function until(ok: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether nothing accepts connections at the target any more (refused or unreachable; not a timeout). */
async function refused(target: string): Promise<boolean> {
  const url = new URL(target);
  return (await connectOnce(url.hostname, Number(url.port), 1000)).error !== undefined;
}

async function ready(target: string): Promise<boolean> {
  try {
    const response = await fetch(new URL("/readyz", target), { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}
