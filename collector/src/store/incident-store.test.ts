import { isClawguardError } from "@clawguard/shared/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "./db.ts";
import { type Incident, IncidentStore, TIMELINE_MAX } from "./incident-store.ts";
import type { FleetState, Transition } from "./liveness/index.ts";
import { migrate } from "./migrations.ts";
import { storeBackends } from "./test-backends.ts";

/** Incidents on the same backends as the audit trail, with replicas racing. */

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const at = (rev: number) => new Date(T0 + rev * 1000).toISOString();
const t = (agent: string, state: FleetState, rev: number, reasons: string[] = []): Transition => ({
  agent,
  state,
  reasons,
  at: at(rev),
  rev,
});

describe.each(storeBackends)("incident store on $name", ({ skip, open }) => {
  let db: Db;
  let replica: () => Db;
  let done: () => Promise<void>;
  let store: IncidentStore;
  const incidentsOf = async (agent: string, open?: boolean): Promise<Incident[]> =>
    (await store.list({ agent, open, limit: 100 })).incidents;

  beforeAll(async () => {
    if (skip) return;
    ({ db, replica, done } = await open());
    await migrate(db);
    store = new IncidentStore(db);
  });
  afterAll(async () => {
    if (skip) return;
    await db.close();
    await done();
  });

  it.skipIf(skip)("opens on unhealthy, adds every change with its reasons, resolves on healthy", async () => {
    expect(await store.record(t("a", "healthy", 1))).toEqual({ applied: true, incident: null, kind: null });
    const opened = await store.record(t("a", "unhealthy", 2, ["chat: HTTP 403"]));
    expect(opened).toMatchObject({ applied: true, kind: "opened" });
    expect(await store.record(t("a", "unhealthy", 3, ["chat: HTTP 403"]))).toMatchObject({ kind: null });
    // The same state with more reasons: a repeat of the opening entry, not a change.
    expect(await store.record(t("a", "unhealthy", 4, ["chat: HTTP 403", "readyz: 503"]))).toMatchObject({
      kind: null,
    });
    const steps: [FleetState, string[]][] = [
      ["degraded", ["provider openai: 401"]],
      ["stale", ["no heartbeat"]],
      ["unknown", []],
    ];
    for (const [i, [state, reasons]] of steps.entries()) {
      expect(await store.record(t("a", state, 5 + i, reasons))).toEqual({
        applied: true,
        incident: (opened as { incident: string }).incident,
        kind: "changed",
      });
    }
    expect(await store.record(t("a", "healthy", 8))).toMatchObject({ kind: "resolved" });
    const [incident, ...others] = await incidentsOf("a");
    expect(others).toEqual([]);
    expect(incident).toMatchObject({
      agent: "a",
      open: false,
      openedAt: at(2),
      resolvedAt: at(8),
      state: "unknown",
      reasons: [],
      events: 5,
    });
    expect(incident?.timeline).toEqual([
      {
        at: at(2),
        kind: "opened",
        fromState: "healthy",
        toState: "unhealthy",
        reasons: ["chat: HTTP 403", "readyz: 503"],
        repeats: 2,
        lastAt: at(4),
      },
      {
        at: at(5),
        kind: "changed",
        fromState: "unhealthy",
        toState: "degraded",
        reasons: ["provider openai: 401"],
      },
      { at: at(6), kind: "changed", fromState: "degraded", toState: "stale", reasons: ["no heartbeat"] },
      { at: at(7), kind: "changed", fromState: "stale", toState: "unknown", reasons: [] },
      { at: at(8), kind: "resolved", fromState: "unknown", toState: "healthy", reasons: [] },
    ]);
    // Bad again: a new incident; the old one stays resolved.
    await store.record(t("a", "degraded", 9, ["memory: MEMORY.md over 20000 chars"]));
    const [latest, old] = await incidentsOf("a");
    expect(latest).toMatchObject({ open: true, openedAt: at(9), state: "degraded", events: 1 });
    expect(old?.id).toBe(incident?.id);
    expect((await incidentsOf("a", true)).map((i) => i.id)).toEqual([latest?.id]);
    expect((await incidentsOf("a", false)).map((i) => i.id)).toEqual([incident?.id]);
  });

  it.skipIf(skip)("opens nothing for unknown or healthy; a first bad state opens from nothing", async () => {
    await store.record(t("b", "unknown", 1));
    await store.record(t("b", "healthy", 2));
    expect(await incidentsOf("b")).toEqual([]);
    await store.record(t("b", "stale", 3, ["no heartbeat"]));
    expect((await incidentsOf("b"))[0]?.timeline[0]).toMatchObject({
      fromState: "healthy",
      toState: "stale",
    });
    await store.record(t("c", "unhealthy", 1, ["readyz: 503"]));
    expect((await incidentsOf("c"))[0]?.timeline[0]).toMatchObject({ fromState: null, kind: "opened" });
  });

  it.skipIf(skip)("applies a transition once and never one older than the last applied", async () => {
    await store.record(t("d", "unhealthy", 10, ["x"]));
    expect(await store.record(t("d", "unhealthy", 10, ["x"]))).toEqual({ applied: false });
    expect(await store.record(t("d", "healthy", 5))).toEqual({ applied: false });
    expect(await incidentsOf("d")).toMatchObject([{ open: true, events: 1 }]);
  });

  it.skipIf(skip)("opens one incident when replicas race on the same heartbeat or staleness", async () => {
    const replicas = [store, new IncidentStore(replica()), new IncidentStore(replica())];
    const race = (transition: Transition) =>
      Promise.all(Array.from({ length: 9 }, (_, i) => replicas[i % 3]?.record(transition)));
    for (const [agent, state] of [
      ["e1", "unhealthy"],
      ["e2", "stale"],
    ] as const) {
      const outcomes = await race(t(agent, state, 1, ["down"]));
      expect(outcomes.filter((o) => o?.applied)).toHaveLength(1);
      expect(await incidentsOf(agent)).toMatchObject([{ open: true, events: 1 }]);
      const staleness = await race(t(agent, "stale", 2, ["no heartbeat"]));
      expect(staleness.filter((o) => o?.applied)).toHaveLength(1);
      // e2 was stale already: a repeat of its opening entry, not a second one.
      expect(await incidentsOf(agent)).toMatchObject([
        { open: true, state: "stale", events: state === "stale" ? 1 : 2 },
      ]);
    }
    // Two different changes at once, in either order: the newer one wins.
    await Promise.all([
      replicas[1]?.record(t("e1", "healthy", 4)),
      replicas[2]?.record(t("e1", "degraded", 3)),
    ]);
    const [incident] = await incidentsOf("e1");
    expect(incident?.open).toBe(false);
    const { rows } = await db.query<{ state: string; rev: string | number }>(
      "SELECT state, rev FROM agent_states WHERE agent = 'e1'",
    );
    expect(rows.map((r) => [r.state, Number(r.rev)])).toEqual([["healthy", 4]]);
    const count = await db.query<{ n: string | number }>(
      "SELECT count(*) AS n FROM incidents WHERE agent IN ('e1', 'e2')",
    );
    expect(Number(count.rows[0]?.n)).toBe(2);
  });

  it.skipIf(skip)("refuses a second open incident for an agent in the schema itself", async () => {
    await store.record(t("f", "unhealthy", 1));
    await expect(
      db.query(
        `INSERT INTO incidents (id, agent, opened_at, state, reasons, events)
         VALUES ('X', 'f', now(), 'unhealthy', '[]', 1)`,
      ),
    ).rejects.toThrow(/incidents_one_open|unique/);
  });

  it.skipIf(skip)(
    "adds controller actions to the open incident's timeline, with their fencing token",
    async () => {
      const note = (action: string, rev: number, token = 7) =>
        store.note("g", { action, detail: `${action} g`, token, at: at(rev) });
      const opened = await store.record(t("g", "unhealthy", 1, ["readyz: 503"]));
      expect(await note("restart", 2)).toEqual({
        incident: (opened as { incident: string }).incident,
        opened: false,
      });
      await store.record(t("g", "stale", 3, ["no heartbeat"]));
      await note("hold", 4, 8);
      await store.record(t("g", "healthy", 5));
      const [incident, ...others] = await incidentsOf("g");
      expect(others).toEqual([]);
      // An action leaves the incident's state and reasons as they were.
      expect(incident).toMatchObject({ open: false, state: "stale", reasons: ["no heartbeat"], events: 5 });
      expect(incident?.timeline).toEqual([
        { at: at(1), kind: "opened", fromState: null, toState: "unhealthy", reasons: ["readyz: 503"] },
        {
          at: at(2),
          kind: "action",
          fromState: "unhealthy",
          toState: "unhealthy",
          reasons: [],
          action: "restart",
          detail: "restart g",
          token: 7,
        },
        { at: at(3), kind: "changed", fromState: "unhealthy", toState: "stale", reasons: ["no heartbeat"] },
        expect.objectContaining({ kind: "action", fromState: "stale", action: "hold", token: 8 }),
        { at: at(5), kind: "resolved", fromState: "stale", toState: "healthy", reasons: [] },
      ]);
    },
  );

  it.skipIf(skip)(
    "opens an incident for an action on an agent that looks healthy or was never heard from",
    async () => {
      await store.record(t("h", "healthy", 1));
      const first = await store.note("h", { action: "restart", detail: "restart h", token: 3, at: at(2) });
      expect(first.opened).toBe(true);
      expect(await incidentsOf("h")).toMatchObject([
        {
          id: first.incident,
          open: true,
          openedAt: at(2),
          state: "unknown",
          reasons: [],
          events: 1,
          timeline: [
            { kind: "action", fromState: "healthy", toState: "healthy", action: "restart", token: 3 },
          ],
        },
      ]);
      // It resolves with the agent's next change to healthy.
      await store.record(t("h", "unhealthy", 3, ["readyz: 503"]));
      await store.record(t("h", "healthy", 4));
      expect((await incidentsOf("h"))[0]?.timeline.map((e) => e.kind)).toEqual([
        "action",
        "changed",
        "resolved",
      ]);
      await store.note("never-seen", { action: "standby-started", detail: "started", token: 1, at: at(5) });
      expect((await incidentsOf("never-seen"))[0]?.timeline).toMatchObject([
        { kind: "action", fromState: "unknown", toState: "unknown", action: "standby-started" },
      ]);
    },
  );

  it.skipIf(skip)(
    "numbers actions and changes racing from replicas without a gap or a second incident",
    async () => {
      const replicas = [store, new IncidentStore(replica()), new IncidentStore(replica())];
      const [, changes] = await Promise.all([
        Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            replicas[i % 3]?.note("r", { action: "restart", detail: `#${i}`, token: i, at: at(10 + i) }),
          ),
        ),
        Promise.all([
          replicas[1]?.record(t("r", "unhealthy", 1, ["down"])),
          replicas[2]?.record(t("r", "stale", 2, ["no heartbeat"])),
        ]),
      ]);
      // The newer change (rev 2) always lands; the older one only when it got there first.
      expect(changes[1]?.applied).toBe(true);
      const expected = 6 + changes.filter((c) => c?.applied && c.kind !== null).length;
      const [incident, ...others] = await incidentsOf("r");
      expect(others).toEqual([]);
      expect(incident?.events).toBe(expected);
      expect(incident?.timeline).toHaveLength(expected);
      expect(
        incident?.timeline
          .filter((e) => e.kind === "action")
          .map((e) => e.token)
          .sort(),
      ).toEqual([0, 1, 2, 3, 4, 5]);
    },
  );

  it.skipIf(skip)(
    "refuses an action without its fencing token, and a state change with one, in the schema",
    async () => {
      const { incident } = await store.note("s", {
        action: "fence",
        detail: "stopped s",
        token: 1,
        at: at(1),
      });
      const insert = (seq: number, kind: string, token: number | null) =>
        db.query(
          `INSERT INTO incident_events (incident_id, seq, at, kind, to_state, reasons, rev, action, detail, token)
         VALUES ($1, $2, now(), $3, 'unknown', '[]', 0, 'fence', 'x', $4)`,
          [incident, seq, kind, token],
        );
      await expect(insert(2, "action", null)).rejects.toThrow(/incident_events_action_check/);
      await expect(insert(2, "changed", 1)).rejects.toThrow(/incident_events_action_check/);
      await expect(insert(2, "noted", null)).rejects.toThrow(/incident_events_kind_check/);
    },
  );

  it.skipIf(skip)("pages newest first with a cursor, and keeps the latest of a long timeline", async () => {
    for (let i = 0; i < 5; i++) await store.record(t(`p${i}`, "unhealthy", 100 + i));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 2, open: true, ...(cursor ? { cursor } : {}) });
      seen.push(...page.incidents.filter((i) => i.agent.startsWith("p")).map((i) => i.agent));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(["p4", "p3", "p2", "p1", "p0"]);
    await expect(store.list({ limit: 2, cursor: "nope" })).rejects.toSatisfy((e) =>
      isClawguardError(e, "input.invalid"),
    );
    for (let i = 0; i < TIMELINE_MAX + 20; i++)
      await store.record(t("q", i % 2 === 0 ? "unhealthy" : "degraded", 1 + i));
    const [long] = await incidentsOf("q");
    expect(long?.events).toBe(TIMELINE_MAX + 20);
    expect(long?.timeline).toHaveLength(TIMELINE_MAX);
    expect(long?.timeline.at(-1)?.at).toBe(at(TIMELINE_MAX + 20));
    expect(long?.timeline[0]?.at).toBe(at(21));
  });

  it.skipIf(skip)(
    "an agent staying unhealthy adds one entry, not one per heartbeat, whatever its reasons say: the count, the latest reasons and the last report are kept",
    async () => {
      // A 503 body with a request id, a running count: the reason text differs at every report.
      const reasons = (n: number) => [`readyz: HTTP 503 {"request_id":"req-${n}0f3"} (${n} in a row)`];
      expect(await store.record(t("rep", "unhealthy", 1, reasons(3)))).toMatchObject({ kind: "opened" });
      for (let n = 4; n <= 12; n++)
        expect(await store.record(t("rep", "unhealthy", n - 2, reasons(n)))).toMatchObject({ kind: null });
      // A controller action between reports: the count stays on the state's entry.
      await store.note("rep", { action: "restart", detail: "restarted", token: 7, at: at(11) });
      // Another condition in the same state (a command probe's changing output): still a repeat.
      for (const [i, out] of ["disk 97% full", "disk 98% full"].entries())
        expect(await store.record(t("rep", "unhealthy", 11 + i, [`disk: exited 1: ${out}`]))).toMatchObject({
          kind: null,
        });
      // Only a change of state adds an entry.
      expect(await store.record(t("rep", "degraded", 13, ["memory: over 20000 chars"]))).toMatchObject({
        kind: "changed",
      });
      expect(await store.record(t("rep", "degraded", 14, ["memory: over 20001 chars"]))).toMatchObject({
        kind: null,
      });
      expect(await store.record(t("rep", "healthy", 15))).toMatchObject({ kind: "resolved" });
      const [incident] = await incidentsOf("rep");
      expect(incident?.timeline.map((e) => [e.kind, e.repeats ?? 1, e.reasons, e.lastAt ?? null])).toEqual([
        ["opened", 12, ["disk: exited 1: disk 98% full"], at(12)],
        ["action", 1, [], null],
        ["changed", 2, ["memory: over 20001 chars"], at(14)],
        ["resolved", 1, [], null],
      ]);
      expect(incident?.timeline[0]?.at).toBe(at(1));
      expect(incident?.events).toBe(4);
      expect(incident).toMatchObject({ state: "degraded", reasons: ["memory: over 20001 chars"] });
    },
  );
});
