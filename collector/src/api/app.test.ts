import { type ChainHead, EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "../fleet/index.ts";
import { AuditStore, COLLECTOR_AGENT } from "../store/audit-store.ts";
import { createEmbeddedDb } from "../store/embedded/index.ts";
import { IncidentStore } from "../store/incident-store.ts";
import { MemoryLiveness } from "../store/liveness/memory.ts";
import { sha256Hex } from "../store/memory-store.ts";
import { migrate } from "../store/migrations.ts";
import { createCollectorApp } from "./app.ts";

/** Bad input of every kind: a 4xx naming what is wrong, and what was stored stays as it was. */

const INGEST = "i".repeat(40);
const INGEST_SUB = "j".repeat(40);
const READ = "r".repeat(40);
const dir = tempDir("clawguard-collector-api-");
let store: AuditStore;
let app: ReturnType<typeof createCollectorApp>;

function chain(agent: string, count: number, from: ChainHead = EMPTY_HEAD): AuditEvent[] {
  let head = from;
  return Array.from({ length: count }, () => {
    const e = sealEvent(
      draftEvent({ source: { agent, role: "agent", host: "h" }, type: "exec.completed" }),
      head,
    );
    head = { seq: e.seq, hash: e.hash };
    return e;
  });
}

const post = (body: string, token = INGEST, headers: Record<string, string> = {}) =>
  app.request("/v1/events", {
    method: "POST",
    body,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
  });
const get = (path: string, token = READ) =>
  app.request(path, { headers: { authorization: `Bearer ${token}` } });

async function snapshot(): Promise<{ events: unknown[]; versions: unknown[]; blobs: unknown[] }> {
  const all = async (sql: string, params: unknown[] = []) => (await store.db.query(sql, params)).rows;
  return {
    events: await all("SELECT * FROM audit_events WHERE agent <> $1 ORDER BY agent, seq", [COLLECTOR_AGENT]),
    versions: await all("SELECT * FROM memory_versions ORDER BY event_id"),
    blobs: await all("SELECT * FROM memory_blobs ORDER BY sha256"),
  };
}

beforeAll(async () => {
  const db = await createEmbeddedDb(dir.path);
  await migrate(db);
  store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
  app = createCollectorApp({
    store,
    fleet: new Fleet({
      liveness: new MemoryLiveness({ staleFactor: 3, leaseMs: 30_000 }),
      incidents: new IncidentStore(db),
      staleFactor: 3,
      log: silentLogger,
    }),
    ingestTokens: new TokenSet<string>().add(INGEST, "main").add(INGEST_SUB, "sub1"),
    readTokens: new TokenSet<string>().add(READ, "reader"),
    bodyLimitBytes: 64 * 1024,
    // Above the events limit: a blob is held to its own limit only.
    blobLimitBytes: 96 * 1024,
    maxBatchEvents: 50,
    log: silentLogger,
  });
  const first = await post(JSON.stringify({ events: chain("main", 5) }));
  expect(first.status).toBe(200);
});
afterAll(async () => {
  await store.db.close();
  dir.cleanup();
});

describe("collector API under bad input", () => {
  const cases: [string, () => Response | Promise<Response>, number, RegExp][] = [
    ["no token", () => app.request("/v1/events", { method: "POST", body: "{}" }), 401, /token/i],
    ["wrong token", () => post(JSON.stringify({ events: [] }), "x".repeat(40)), 401, /token/i],
    ["read token on ingest", () => post(JSON.stringify({ events: [] }), READ), 401, /token/i],
    ["malformed JSON", () => post('{"events": ['), 400, /JSON/],
    ["not an object", () => post("[1,2]"), 400, /events/],
    ["unknown field", () => post(JSON.stringify({ events: chain("main", 1), extra: 1 })), 400, /extra/],
    ["empty batch", () => post(JSON.stringify({ events: [] })), 400, /1-50 events/],
    ["batch too large", () => post(JSON.stringify({ events: Array(51).fill({}) })), 400, /1-50 events/],
    [
      "body over the limit",
      () => post(JSON.stringify({ events: [{ pad: "x".repeat(70_000) }] })),
      413,
      /64|limit|large/i,
    ],
    ["audit without token", () => app.request("/v1/audit"), 401, /token/i],
    ["audit with ingest token", () => get("/v1/audit", INGEST), 401, /token/i],
    ["bad limit", () => get("/v1/audit?limit=lots"), 400, /limit/],
    ["bad time", () => get("/v1/audit?since=yesterday"), 400, /since/],
    ["no such date", () => get("/v1/audit?since=2026-02-30T00:00:00Z"), 400, /since: not a real date/],
    ["hour 24", () => get("/v1/audit?until=2026-02-03T24:00:00Z"), 400, /until: not a real date/],
    ["bad clock", () => get("/v1/audit?clock=wall"), 400, /clock: expected agent .* or collector/],
    ["bad cursor", () => get("/v1/audit?cursor=%%%"), 400, /cursor/],
    [
      "a cursor with a nonsense time",
      () => get(`/v1/audit?cursor=${Buffer.from(JSON.stringify(["not a time", "x"])).toString("base64url")}`),
      400,
      /cursor/,
    ],
  ];

  it.each(cases)("%s -> 4xx naming the problem, nothing stored changes", async (_, send, status, message) => {
    const before = await snapshot();
    const response = await send();
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });

  it("answers per event: the good ones are stored, the bad ones named by field", async () => {
    const before = (await snapshot()).events.length;
    const [good] = chain("main", 1, { seq: 5, hash: (await store.verify("main")).head?.hash as string });
    const response = await post(
      JSON.stringify({
        events: [good, { id: "nope" }, { ...chain("other", 1)[0] }],
      }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      accepted: number;
      rejected: number;
      results: { status: string; errors?: string[] }[];
    };
    expect(body).toMatchObject({ accepted: 1, rejected: 2 });
    expect(body.results[1]?.errors?.join(" ")).toMatch(/events\[1\]\.\w+/);
    expect(body.results[2]?.errors?.join(" ")).toMatch(/other/);
    expect((await snapshot()).events.length).toBe(before + 1);
    expect((await store.verify("main")).ok).toBe(true);
  });

  it("serves health, readiness, the trail and its verification", async () => {
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(200);
    const page = (await (await get("/v1/audit?agent=main&limit=2")).json()) as {
      events: AuditEvent[];
      next_cursor: string;
    };
    expect(page.events.map((e) => e.seq)).toEqual([1, 2]);
    const next = (await (await get(`/v1/audit?agent=main&limit=2&cursor=${page.next_cursor}`)).json()) as {
      events: AuditEvent[];
    };
    expect(next.events.map((e) => e.seq)).toEqual([3, 4]);
    const verify = (await (await get("/v1/audit/verify?agent=main")).json()) as { ok: boolean };
    expect(verify.ok).toBe(true);
  });
});

describe("memory blobs and history", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  const A = text("# MEMORY\n- prefers short answers\n");
  const B = text("# MEMORY\n- prefers short answers\n- lives in Berlin\n");
  const idA = sha256Hex(A);
  const idB = sha256Hex(B);
  const huge = new Uint8Array(100 * 1024).fill(0x61);
  const big = new Uint8Array(80 * 1024).fill(0x62);
  const put = (id: string, body: Uint8Array, token = INGEST_SUB, type = "application/octet-stream") =>
    app.request(`/v1/blobs/${id}`, {
      method: "PUT",
      body,
      headers: { authorization: `Bearer ${token}`, "content-type": type },
    });
  const head = (id: string, token = INGEST_SUB) =>
    app.request(`/v1/blobs/${id}`, { method: "HEAD", headers: { authorization: `Bearer ${token}` } });
  const changed = (agent: string, from: ChainHead, attrs: Record<string, unknown>, time: Date) =>
    sealEvent(
      draftEvent({ source: { agent, role: "agent", host: "h" }, type: "memory.changed", attrs, time }),
      from,
    );
  const forged = Buffer.from(JSON.stringify(["yesterday", "x"])).toString("base64url");

  beforeAll(async () => {
    // Stored before the bad input below, so that "nothing changes" covers blobs and versions too.
    expect((await put(idA, A)).status).toBe(201);
    const event = changed(
      "sub1",
      EMPTY_HEAD,
      { path: "MEMORY.md", change: "created", size: A.length, sha256: idA, lines_added: 2, lines_removed: 0 },
      new Date(Date.UTC(2026, 10, 24, 12, 0, 1)),
    );
    const response = await post(JSON.stringify({ events: [event] }), INGEST_SUB);
    expect(await response.json()).toMatchObject({ accepted: 1 });
  });

  const cases: [string, () => Response | Promise<Response>, number, RegExp][] = [
    [
      "upload without token",
      () => app.request(`/v1/blobs/${idB}`, { method: "PUT", body: B }),
      401,
      /token/i,
    ],
    ["upload with the read token", () => put(idB, B, READ), 401, /token/i],
    [
      "upload over the limit without a token",
      () => put(sha256Hex(huge), huge, "x".repeat(40)),
      401,
      /token/i,
    ],
    ["blob id not hex", () => put("g".repeat(64), B), 400, /blob id: .*64 lower-case hex/],
    ["blob id in upper case", () => put(idB.toUpperCase(), B), 400, /blob id/],
    ["blob id too short", () => put(idB.slice(0, 63), B), 400, /blob id/],
    ["body that is not its name", () => put(idA, B), 400, new RegExp(`${idA}.*${idB}`)],
    [
      "upload as text",
      () => put(idB, B, INGEST_SUB, "text/plain"),
      400,
      /Content-Type: application\/octet-stream/,
    ],
    ["upload over the blob limit", () => put(sha256Hex(huge), huge), 413, /98304.*blobLimitBytes/],
    ["blob read with an ingest token", () => get(`/v1/blobs/${idA}`, INGEST_SUB), 401, /token/i],
    ["blob read of a bad id", () => get("/v1/blobs/nope"), 400, /blob id/],
    ["blob read of an unknown blob", () => get(`/v1/blobs/${idB}`), 404, /not stored/],
    ["history without token", () => app.request("/v1/memory/history?path=MEMORY.md"), 401, /token/i],
    ["history with an ingest token", () => get("/v1/memory/history?path=MEMORY.md", INGEST), 401, /token/i],
    ["history without path", () => get("/v1/memory/history"), 400, /path: /],
    ["history with an empty path", () => get("/v1/memory/history?path="), 400, /path: /],
    ["history of a bad agent", () => get("/v1/memory/history?path=MEMORY.md&agent=%20x"), 400, /agent/],
    ["history with a bad limit", () => get("/v1/memory/history?path=MEMORY.md&limit=-1"), 400, /limit/],
    ["history with a bad cursor", () => get("/v1/memory/history?path=MEMORY.md&cursor=%%%"), 400, /cursor/],
    [
      "history with a forged cursor",
      () => get(`/v1/memory/history?path=MEMORY.md&cursor=${forged}`),
      400,
      /cursor/,
    ],
  ];

  it.each(cases)("%s -> 4xx naming the problem, nothing stored changes", async (_, send, status, message) => {
    const before = await snapshot();
    const response = await send();
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a memory.changed event that names no content, and stores nothing of it", async () => {
    const before = await snapshot();
    const event = changed(
      "main",
      (await store.verify("main")).head as ChainHead,
      { path: "MEMORY.md", change: "modified", size: 3 },
      new Date(),
    );
    const response = await post(JSON.stringify({ events: [event] }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { rejected: number; results: { errors?: string[] }[] };
    expect(body.rejected).toBe(1);
    expect(body.results[0]?.errors?.join(" ")).toMatch(
      /events\[0\]\.attrs\.sha256: expected 64 lower-case hex/,
    );
    expect(await snapshot()).toEqual(before);
  });

  it("uploads once, tells whether a blob is there, serves it, and lists versions across agents", async () => {
    expect((await head(idB)).status).toBe(404);
    const first = await put(idB, B, INGEST);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ sha256: idB, size: B.length, stored: true });
    const again = await put(idB, B, INGEST);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ sha256: idB, size: B.length, stored: false });
    // Another agent is told nothing of main's upload: absent to its HEAD, new to its PUT.
    expect((await head(idB, INGEST)).status).toBe(200);
    expect((await head(idB)).status).toBe(404);
    const theirs = await put(idB, B);
    expect(theirs.status).toBe(201);
    expect(await theirs.json()).toEqual({ sha256: idB, size: B.length, stored: true });
    expect((await head(idB)).status).toBe(200);
    const there = await head(idB, READ);
    expect(there.status).toBe(200);
    expect(there.headers.get("content-length")).toBe(String(B.length));
    const served = await get(`/v1/blobs/${idB}`);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(B);
    // Over the events body limit, under the blob limit.
    expect((await put(sha256Hex(big), big)).status).toBe(201);

    // main (no upload yet for its next version) and sub1 share the workspace's MEMORY.md.
    const C = text("# MEMORY\n");
    const event = changed(
      "main",
      (await store.verify("main")).head as ChainHead,
      {
        path: "MEMORY.md",
        change: "modified",
        size: C.length,
        sha256: sha256Hex(C),
        lines_added: 0,
        lines_removed: 1,
      },
      new Date(Date.UTC(2026, 10, 24, 12, 0, 2)),
    );
    expect(await (await post(JSON.stringify({ events: [event] }))).json()).toMatchObject({ accepted: 1 });
    type Page = {
      versions: { agent: string; sha256: string; blob: boolean; event_id: string }[];
      next_cursor: string | null;
    };
    const history = (await (await get("/v1/memory/history?path=MEMORY.md")).json()) as Page;
    expect(history.versions.map((v) => [v.agent, v.sha256, v.blob])).toEqual([
      ["main", sha256Hex(C), false],
      ["sub1", idA, true],
    ]);
    expect(history.versions[0]?.event_id).toBe(event.id);
    const sub = (await (await get("/v1/memory/history?path=MEMORY.md&agent=sub1")).json()) as Page;
    expect(sub.versions.map((v) => v.agent)).toEqual(["sub1"]);
    const page1 = (await (await get("/v1/memory/history?path=MEMORY.md&limit=1")).json()) as Page;
    expect(page1.versions.map((v) => v.agent)).toEqual(["main"]);
    const page2 = (await (
      await get(`/v1/memory/history?path=MEMORY.md&limit=1&cursor=${page1.next_cursor}`)
    ).json()) as Page;
    expect(page2).toMatchObject({ versions: [{ agent: "sub1" }], next_cursor: null });
  });
});
