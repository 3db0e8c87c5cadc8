import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet, type FleetView } from "../fleet/index.ts";
import { AuditStore, COLLECTOR_AGENT } from "../store/audit-store.ts";
import { createEmbeddedDb } from "../store/embedded/index.ts";
import { type Incident, IncidentStore } from "../store/incident-store.ts";
import { MemoryLiveness } from "../store/liveness/memory.ts";
import { migrate } from "../store/migrations.ts";
import { createCollectorApp } from "./app.ts";

/** Heartbeats, the fleet and incidents through the API, on a fake clock. */

const INGEST = "i".repeat(40);
const INGEST_SUB = "j".repeat(40);
const READ = "r".repeat(40);
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const FP_A = "a".repeat(64);
const FP_B = "b".repeat(64);
const dir = tempDir("clawguard-collector-fleet-");
let now = T0;
let store: AuditStore;
let fleet: Fleet;
let app: ReturnType<typeof createCollectorApp>;

const beat = (over: Record<string, unknown> = {}) => ({
  agent: "main",
  role: "gateway",
  host: "h1",
  state: "healthy",
  reasons: [],
  probes: [{ name: "readyz", state: "passing" }],
  versions: { openclaw: "2026.9.1", clawguard: "0.1.0" },
  configFingerprint: FP_A,
  intervalMs: 10_000,
  time: new Date(now).toISOString(),
  ...over,
});
const post = (body: unknown, token = INGEST, type = "application/json") =>
  app.request("/v1/heartbeats", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { authorization: `Bearer ${token}`, "content-type": type },
  });
const get = (path: string, token = READ) =>
  app.request(path, { headers: { authorization: `Bearer ${token}` } });
const json = async <T>(response: Response | Promise<Response>): Promise<T> => {
  const r = await response;
  expect(r.status).toBe(200);
  return (await r.json()) as T;
};
const incidents = async (query = "") =>
  (await json<{ incidents: Incident[]; next_cursor: string | null }>(get(`/v1/incidents${query}`))).incidents;

beforeAll(async () => {
  const db = await createEmbeddedDb(dir.path);
  await migrate(db);
  store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
  fleet = new Fleet({
    liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
    incidents: new IncidentStore(db),
    staleFactor: 3,
    log: silentLogger,
    now: () => now,
  });
  app = createCollectorApp({
    store,
    fleet,
    ingestTokens: new TokenSet<string>().add(INGEST, "main").add(INGEST_SUB, "sub1"),
    readTokens: new TokenSet<string>().add(READ, "reader"),
    // Far above the heartbeat's own limit: that one must bite.
    bodyLimitBytes: 16 * 1024 * 1024,
    blobLimitBytes: 16 * 1024 * 1024,
    maxBatchEvents: 50,
    log: silentLogger,
  });
});
afterAll(async () => {
  await store.db.close();
  dir.cleanup();
});

describe("POST /v1/heartbeats under bad input", () => {
  const many = <T>(n: number, item: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => item(i));
  const cases: [string, () => Promise<Response> | Response, number, RegExp][] = [
    ["no token", () => app.request("/v1/heartbeats", { method: "POST", body: "{}" }), 401, /token/i],
    ["wrong token", () => post(beat(), "x".repeat(40)), 401, /token/i],
    ["read token", () => post(beat(), READ), 401, /token/i],
    ["another agent's name", () => post(beat({ agent: "sub1" })), 403, /agent: .*"main", got "sub1"/],
    ["not JSON", () => post(beat(), INGEST, "text/plain"), 400, /Content-Type/],
    ["malformed JSON", () => post('{"agent": '), 400, /JSON/],
    ["an array", () => post([beat()]), 400, /heartbeat object/],
    ["over 64 KiB", () => post(beat({ reasons: ["x".repeat(70_000)] })), 413, /65536/],
    ["unknown field", () => post({ ...beat(), extra: 1 }), 400, /extra: unknown field/],
    ["no agent", () => post({ ...beat(), agent: undefined }), 400, /agent: expected/],
    ["bad agent", () => post(beat({ agent: "_main" })), 400, /agent: expected/],
    ["no role", () => post({ ...beat(), role: undefined }), 400, /role: expected/],
    ["long role", () => post(beat({ role: "r".repeat(65) })), 400, /role: expected .*1-64/],
    // A role is a Prometheus label and part of alert texts (Mattermost markdown): a safe charset only.
    [
      "a role mentioning @channel",
      () => post(beat({ role: "@channel" })),
      400,
      /role: expected .*A-Za-z0-9_.-/,
    ],
    ["a role with a link", () => post(beat({ role: "[x](https://e.example)" })), 400, /role: expected/],
    [
      "a role with an image",
      () => post(beat({ role: "![i](https://e.example/i.png)" })),
      400,
      /role: expected/,
    ],
    ["a role with RLO", () => post(beat({ role: "gw\u202egateway" })), 400, /role: expected/],
    ["a role with U+2028", () => post(beat({ role: "gw\u2028x" })), 400, /role: expected/],
    ["a role with a space", () => post(beat({ role: "gate way" })), 400, /role: expected/],
    ["long host", () => post(beat({ host: "h".repeat(256) })), 400, /host: expected/],
    ["bad state", () => post(beat({ state: "sick" })), 400, /state: expected one of healthy\|degraded/],
    ["reasons not an array", () => post(beat({ reasons: "down" })), 400, /reasons: expected an array/],
    ["51 reasons", () => post(beat({ reasons: many(51, (i) => `r${i}`) })), 400, /reasons: .*at most 50/],
    ["a reason too long", () => post(beat({ reasons: ["ok", "x".repeat(1001)] })), 400, /reasons\[1\]: /],
    ["a reason not a string", () => post(beat({ reasons: [5] })), 400, /reasons\[0\]: .*number 5/],
    ["probes not an array", () => post(beat({ probes: {} })), 400, /probes: expected an array/],
    ["a probe without state", () => post(beat({ probes: [{ name: "x" }] })), 400, /probes\[0\]\.state: /],
    [
      "a probe in a bad state",
      () => post(beat({ probes: [{ name: "x", state: "up" }] })),
      400,
      /probes\[0\]\.state/,
    ],
    [
      "a probe with an unknown field",
      () => post(beat({ probes: [{ name: "x", state: "passing", ms: 3 }] })),
      400,
      /probes\[0\]\.ms: unknown field/,
    ],
    ["a probe without name", () => post(beat({ probes: [{ state: "passing" }] })), 400, /probes\[0\]\.name/],
    ["versions an array", () => post(beat({ versions: [] })), 400, /versions: expected an object/],
    [
      "21 versions",
      () => post(beat({ versions: Object.fromEntries(many(21, (i) => [`v${i}`, "1"] as const)) })),
      400,
      /versions: .*at most 20/,
    ],
    ["a version not a string", () => post(beat({ versions: { openclaw: 9 } })), 400, /versions\.openclaw: /],
    ["short fingerprint", () => post(beat({ configFingerprint: "abc" })), 400, /configFingerprint: .*64/],
    [
      "upper-case fingerprint",
      () => post(beat({ configFingerprint: FP_A.toUpperCase() })),
      400,
      /configFingerprint/,
    ],
    ["interval too short", () => post(beat({ intervalMs: 999 })), 400, /intervalMs: .*1000\.\.3600000/],
    ["interval too long", () => post(beat({ intervalMs: 3_600_001 })), 400, /intervalMs/],
    ["interval not an integer", () => post(beat({ intervalMs: 1500.5 })), 400, /intervalMs/],
    ["interval as a string", () => post(beat({ intervalMs: "10000" })), 400, /intervalMs/],
    ["no time", () => post({ ...beat(), time: undefined }), 400, /time: expected an RFC 3339/],
    ["a time that is not", () => post(beat({ time: "yesterday" })), 400, /time: /],
    ["an impossible date", () => post(beat({ time: "2026-13-45T00:00:00Z" })), 400, /time: /],
  ];

  it.each(cases)("%s -> %i naming the problem, nothing recorded", async (_, send, status, message) => {
    const response = await send();
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(message);
    expect((await fleet.view()).agents).toEqual([]);
    expect(await incidents()).toEqual([]);
  });

  it("names every problem at once", async () => {
    const response = await post({ ...beat({ state: "x", intervalMs: 1 }), extra: true });
    const body = (await response.json()) as { error: { message: string; details: { errors: string[] } } };
    expect(body.error.details.errors.map((e) => e.split(":")[0])).toEqual(["extra", "state", "intervalMs"]);
  });
});

describe("fleet and incidents", () => {
  it("refuses reads without the read token, and bad query parameters", async () => {
    for (const path of ["/v1/fleet", "/v1/incidents"]) {
      expect((await app.request(path)).status).toBe(401);
      expect((await get(path, INGEST)).status).toBe(401);
    }
    for (const [query, message] of [
      ["open=maybe", /open: expected true or false/],
      ["limit=lots", /limit/],
      ["cursor=%%%", /cursor/],
      ["agent=%20x", /agent/],
    ] as const) {
      const response = await get(`/v1/incidents?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
  });

  it("shows every agent, drift per role, incidents with timelines, and staleness after the sweep", async () => {
    expect(await json(post(beat()))).toMatchObject({
      ok: true,
      clock: { received: expect.any(String), sent: expect.any(String) },
    });
    now += 1000;
    const sub = beat({
      agent: "sub1",
      host: "h2",
      configFingerprint: FP_B,
      configKeys: {
        "openclaw.models.providers.openai": "1111222233334444",
        "openclaw.gateway.mode": "aaaabbbbccccdddd",
      },
      intervalMs: 5000,
    });
    expect(
      await json(post({ ...sub, state: "unhealthy", reasons: ["chat: HTTP 403"] }, INGEST_SUB)),
    ).toMatchObject({ ok: true });
    const view = await json<FleetView>(get("/v1/fleet"));
    expect(view.agents.map((a) => a.agent)).toEqual(["main", "sub1"]);
    expect(view.agents[1]).toEqual({
      ...sub,
      state: "unhealthy",
      reasons: ["chat: HTTP 403"],
      stale: false,
      lastSeen: new Date(T0 + 1000).toISOString(),
      clockOffset: { offsetMs: 0, method: "one-way", skewed: false },
    });
    // main does not report its keys: sub1's are all the drift can name.
    expect(view.drift).toEqual([
      { role: "gateway", fingerprints: { [FP_A]: ["main"], [FP_B]: ["sub1"] }, keys: [] },
    ]);
    const [opened, ...none] = await incidents();
    expect(none).toEqual([]);
    expect(opened).toMatchObject({ agent: "sub1", open: true, state: "unhealthy", events: 1 });
    expect(opened?.timeline).toEqual([
      {
        at: new Date(T0 + 1000).toISOString(),
        kind: "opened",
        fromState: null,
        toState: "unhealthy",
        reasons: ["chat: HTTP 403"],
      },
    ]);

    // sub1 (every 5 s) is overdue after 15 s, main (every 10 s) after 30 s.
    now = T0 + 16_002;
    expect(await fleet.sweep()).toBe(1);
    expect(await fleet.sweep()).toBe(0);
    let agents = (await json<FleetView>(get("/v1/fleet"))).agents;
    expect(agents.map((a) => [a.agent, a.stale])).toEqual([
      ["main", false],
      ["sub1", true],
    ]);
    const [sub1] = await incidents("?agent=sub1");
    expect(sub1?.timeline.map((e) => [e.kind, e.fromState, e.toState])).toEqual([
      ["opened", null, "unhealthy"],
      ["changed", "unhealthy", "stale"],
    ]);
    expect(sub1?.timeline[1]?.at).toBe(new Date(T0 + 16_000).toISOString());
    now = T0 + 30_001;
    expect(await fleet.sweep()).toBe(1);
    const view2 = await json<FleetView>(get("/v1/fleet"));
    expect(view2.agents.every((a) => a.stale)).toBe(true);
    // Stale agents are not counted as drift.
    expect(view2.drift).toEqual([]);
    const [main] = await incidents("?agent=main&open=true");
    expect(main).toMatchObject({ state: "stale", openedAt: new Date(T0 + 30_000).toISOString() });

    // main is back: its incident resolves; sub1 is back but still unhealthy.
    now = T0 + 40_000;
    await json(post(beat()));
    await json(post({ ...sub, state: "unhealthy", reasons: ["chat: HTTP 403"] }, INGEST_SUB));
    agents = (await json<FleetView>(get("/v1/fleet"))).agents;
    expect(agents.map((a) => a.stale)).toEqual([false, false]);
    expect((await incidents("?open=false")).map((i) => [i.agent, i.timeline.map((e) => e.kind)])).toEqual([
      ["main", ["opened", "resolved"]],
    ]);
    const open = await incidents("?open=true");
    expect(open.map((i) => [i.agent, i.state, i.timeline.at(-1)?.fromState])).toEqual([
      ["sub1", "unhealthy", "stale"],
    ]);
    const page = await json<{ incidents: Incident[]; next_cursor: string }>(get("/v1/incidents?limit=1"));
    expect(page.incidents.map((i) => i.agent)).toEqual(["main"]);
    const next = await json<{ incidents: Incident[] }>(
      get(`/v1/incidents?limit=1&cursor=${page.next_cursor}`),
    );
    expect(next.incidents.map((i) => i.agent)).toEqual(["sub1"]);
  });

  it("shows the controller's actions in the incident's timeline, with the fencing token", async () => {
    const at = new Date(now).toISOString();
    await fleet.incidents.note("sub1", { action: "restart", detail: "restart sub1 in place", token: 9, at });
    const [sub1] = await incidents("?agent=sub1&open=true");
    expect(sub1?.timeline.at(-1)).toEqual({
      at,
      kind: "action",
      fromState: "unhealthy",
      toState: "unhealthy",
      reasons: [],
      action: "restart",
      detail: "restart sub1 in place",
      token: 9,
    });
  });

  it("reports liveness in /readyz", async () => {
    expect(await json(app.request("/readyz"))).toEqual({
      ready: true,
      failing: [],
      degraded: [],
      store: "pglite",
      liveness: "memory",
    });
  });
});

describe("clock skew in the fleet", () => {
  it("answers each heartbeat with the collector's receive and send times, and flags an agent whose clock is off", async () => {
    const before = Date.now();
    const answer = await json<{ ok: boolean; clock: { received: string; sent: string } }>(
      post(
        beat({ agent: "sub1", role: "sub-agent", time: new Date(now - 3_600_000).toISOString() }),
        INGEST_SUB,
      ),
    );
    const [received, sent] = [Date.parse(answer.clock.received), Date.parse(answer.clock.sent)];
    expect(received).toBeGreaterThanOrEqual(before);
    expect(sent).toBeGreaterThanOrEqual(received);
    // One hour behind, before the sidecar measured anything: estimated one way from its send time.
    const agentOf = async (name: string) =>
      (await json<FleetView>(get("/v1/fleet"))).agents.find((a) => a.agent === name);
    expect((await agentOf("sub1"))?.clockOffset).toEqual({
      offsetMs: -3_600_000,
      method: "one-way",
      skewed: true,
    });
    // The sidecar's own measurement (both ways) takes over once it has one.
    await json(
      post(beat({ agent: "sub1", role: "sub-agent", clock: { offsetMs: 1200, rttMs: 4 } }), INGEST_SUB),
    );
    expect((await agentOf("sub1"))?.clockOffset).toEqual({
      offsetMs: 1200,
      method: "round-trip",
      skewed: false,
    });
    await json(
      post(beat({ agent: "sub1", role: "sub-agent", clock: { offsetMs: 45_000, rttMs: 4 } }), INGEST_SUB),
    );
    expect((await agentOf("sub1"))?.clockOffset).toMatchObject({ offsetMs: 45_000, skewed: true });
    const bad = await post(beat({ clock: { offsetMs: 1.5, rttMs: -1 } }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/clock: expected \{offsetMs/);
  });
});

describe("the fleet after Redis lost its data", () => {
  it("still lists, as stale, an agent the store knows but liveness has no record of", async () => {
    await json(post(beat()));
    // The same store, liveness empty (Redis restarted without persistence; main has not reported).
    const forgetful = new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: fleet.incidents,
      staleFactor: 3,
      log: silentLogger,
      now: () => now,
    });
    const view = await forgetful.view();
    expect(view.agents.find((a) => a.agent === "main")).toMatchObject({
      stale: true,
      reasons: [
        expect.stringMatching(
          /^no heartbeat since the collector lost its live records \(a restart, or Redis emptied\): last known /,
        ),
      ],
    });
    expect(view.drift).toEqual([]);
  });
});
