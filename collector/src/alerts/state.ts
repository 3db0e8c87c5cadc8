import { describeError } from "@clawguard/shared/errors";
import type { Logger } from "@clawguard/shared/log";
import type { Lease } from "../controller/lease.ts";
import type { AlertStateStore } from "../store/alert-state-store.ts";
import type { Group } from "./group.ts";
import type { Condition } from "./rules.ts";

export interface ActiveAlert extends Condition {
  /** When the condition was first seen (ms). */
  since: number;
  firing: boolean;
  firedAt?: number;
  notifiedAt?: number;
  /** When its condition was last seen gone while it still fires (resolveForMs). */
  clearSince?: number;
  /**
   * Loaded from the store at a start, its condition not yet seen again: not resolved before the
   * fleet has heard from its agent (see AlertEngine's #heard).
   */
  restored?: true;
}

export interface AlertStateOptions {
  /** Where the state is kept across restarts (none: in memory only). */
  store?: AlertStateStore | undefined;
  /** Among replicas, the holder of this lease evaluates; its fencing token guards the writes. */
  lease?: Lease | undefined;
  log: Logger;
  now: () => number;
}

/** How long a stop waits for the lease to be let go. */
const RELEASE_WAIT_MS = 200;
/** How long the evaluation waits for the store to load the state before it goes on without it. */
const RESTORE_WAIT_MS = 60_000;

/**
 * The alert engine's state (its alerts, pending and firing, and its groups of notices), who may
 * evaluate it (the lease), and its copy in the store: loaded when this replica starts to lead,
 * written after each round under the lease's fencing token.
 */
export class AlertState {
  readonly active = new Map<string, ActiveAlert>();
  /** Notifications of one rule waiting to be posted together (group.ts). */
  readonly groups = new Map<string, Group>();
  readonly #o: AlertStateOptions;
  /** The state as last written to the store (key: its JSON). */
  #saved = new Map<string, string>();
  /** The state was loaded (or there is no store); when it was, if it held anything. */
  #loaded = false;
  #restoredAt: number | undefined;
  #restoreFailedSince: number | undefined;
  #saveFailing = false;
  /** The fencing token this replica evaluates under (undefined: it does not lead). */
  #token: number | undefined;
  #leaseFailing = false;
  /** The token this replica's write was refused under. */
  #fenced: number | undefined;
  /** What the leader last wrote of its alerts, on a replica that does not lead. */
  #follower: ActiveAlert[] = [];

  constructor(options: AlertStateOptions) {
    this.#o = options;
  }

  /** When the state was last loaded from the store (ms). */
  get restoredAt(): number | undefined {
    return this.#restoredAt;
  }

  /** The alerts firing now; on a replica that does not lead, as the leader last wrote them. */
  firing(): ActiveAlert[] {
    const active = this.#token === undefined && this.#o.lease ? this.#follower : [...this.active.values()];
    return active.filter((a) => a.firing).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** A replica that does not lead reads the leader's alerts from the store (for firing()). */
  async follow(): Promise<void> {
    const rows = await this.#o.store?.load().catch(() => undefined);
    if (!rows) return; // the store down: the last read stays
    this.#follower = [...rows]
      .filter(([key]) => key.startsWith("alert:"))
      .map(([, value]) => value as ActiveAlert)
      .filter((a) => typeof a?.key === "string");
  }

  /**
   * The lease's token while this replica leads. A change of token (led, lost, led again) forgets the
   * state: it is loaded again, as the last leader left it. Redis unreachable: the replica that led
   * goes on under its token (the store's fence still refuses it once another is granted one).
   */
  async lead(): Promise<number | undefined> {
    const lease = this.#o.lease;
    if (!lease) return 0;
    let token: number | undefined;
    try {
      token = await lease.acquire();
      if (this.#leaseFailing) this.#o.log.info("alerts lease reachable again");
      this.#leaseFailing = false;
    } catch (err) {
      if (!this.#leaseFailing)
        this.#o.log.error("alerts lease unreachable: the replica that led goes on, the others wait", {
          leading: this.#token !== undefined,
          error: describeError(err),
        });
      this.#leaseFailing = true;
      return this.#token;
    }
    // Fenced off under this token (a newer one granted): never evaluates under it again.
    if (token !== undefined && token === this.#fenced) token = undefined;
    if (token !== this.#token) {
      this.#o.log.info(
        token === undefined ? "alerts evaluated by another replica" : "alerts evaluated here",
        {
          token: token ?? null,
        },
      );
      this.#forget();
      this.#token = token;
    }
    return token;
  }

  /** Drops the state held in memory (another replica leads, or this one again under a new token). */
  #forget(): void {
    this.active.clear();
    this.groups.clear();
    this.#saved = new Map();
    this.#loaded = false;
    this.#restoredAt = undefined;
  }

  /**
   * Loads the state at the first round (and after each change of leader). While the store does not
   * answer, the round waits (for RESTORE_WAIT_MS): evaluating without it would send again what fires
   * and never resolve what fired. Past that, it goes on without, logged.
   */
  async restore(): Promise<boolean> {
    const store = this.#o.store;
    if (!store) this.#loaded = true;
    if (this.#loaded || !store) return true;
    const now = this.#o.now();
    try {
      const rows = await store.load();
      let restored = 0;
      for (const [key, value] of rows) {
        this.#saved.set(key, JSON.stringify(value));
        const v = value as Partial<ActiveAlert & Group>;
        if (key.startsWith("alert:") && typeof v.since === "number" && typeof v.alert === "string") {
          this.active.set(key.slice(6), { ...(v as ActiveAlert), restored: true });
          restored++;
        } else if (key.startsWith("group:") && Array.isArray(v.pending))
          this.groups.set(key.slice(6), v as Group);
      }
      this.#restoredAt = now;
      this.#restoreFailedSince = undefined;
      this.#loaded = true;
      if (rows.size > 0)
        this.#o.log.info("alert state restored", { alerts: restored, firing: this.firing().length });
      return true;
    } catch (err) {
      this.#restoreFailedSince ??= now;
      const waited = now - this.#restoreFailedSince;
      this.#o.log.error(
        waited < RESTORE_WAIT_MS
          ? "alert state not loaded: evaluation waits for the store"
          : "alert state not loaded: evaluating without it (an alert fired before the start may be sent again, or not resolved)",
        { error: describeError(err) },
      );
      this.#loaded = waited >= RESTORE_WAIT_MS;
      return this.#loaded;
    }
  }

  /**
   * Writes what changed in the state since the last write, under `token`. Not written (the store
   * down): tried again at the next round. Refused (fenced off: another replica was granted a newer
   * token): this one forgets its state and stops evaluating until it leads again.
   */
  async persist(token: number): Promise<void> {
    const store = this.#o.store;
    if (!store) return;
    const now = new Map<string, string>();
    const values = new Map<string, unknown>();
    for (const [key, a] of this.active) values.set(`alert:${key}`, a);
    for (const [rule, g] of this.groups) values.set(`group:${rule}`, g);
    const set = new Map<string, unknown>();
    for (const [key, value] of values) {
      const json = JSON.stringify(value);
      now.set(key, json);
      if (this.#saved.get(key) !== json) set.set(key, value);
    }
    const deleted = [...this.#saved.keys()].filter((k) => !now.has(k));
    try {
      if (!(await store.save(set, deleted, token))) {
        this.#o.log.warn("alert state fenced off: another replica evaluates now", { token });
        this.#forget();
        this.#token = undefined;
        this.#fenced = token;
        return;
      }
      if (this.#saveFailing) this.#o.log.info("alert state written again");
      this.#saveFailing = false;
      this.#saved = now;
    } catch (err) {
      if (!this.#saveFailing)
        this.#o.log.error("alert state not written, tried again at the next evaluation", {
          error: describeError(err),
        });
      this.#saveFailing = true;
    }
  }

  /** Lets the lease go (at stop): another replica takes over at once rather than when it lapses. */
  async release(): Promise<void> {
    this.#token = undefined;
    // Bounded: a Redis that does not answer must not hold up the stop (the lease then lapses).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#o.lease?.release().catch(() => {}),
      new Promise((r) => {
        timer = setTimeout(r, RELEASE_WAIT_MS).unref();
      }),
    ]);
    clearTimeout(timer);
  }
}
