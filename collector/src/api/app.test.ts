import { type ChainHead, EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditStore, COLLECTOR_AGENT } from "../store/audit-store.ts";
import { createEmbeddedDb } from "../store/embedded/index.ts";
import { migrate } from "../store/migrations.ts";
import { createCollectorApp } from "./app.ts";

/** Bad input of every kind: a 4xx naming what is wrong, and what was stored stays as it was. */

const INGEST = "i".repeat(40);
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

async function snapshot(): Promise<unknown[]> {
  const { rows } = await store.db.query("SELECT * FROM audit_events WHERE agent <> $1 ORDER BY agent, seq", [
    COLLECTOR_AGENT,
  ]);
  return rows;
}

beforeAll(async () => {
  const db = await createEmbeddedDb(dir.path);
  await migrate(db);
  store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
  app = createCollectorApp({
    store,
    ingestTokens: new TokenSet<string>().add(INGEST, "main"),
    readTokens: new TokenSet<string>().add(READ, "reader"),
    bodyLimitBytes: 64 * 1024,
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
    ["bad cursor", () => get("/v1/audit?cursor=%%%"), 400, /cursor/],
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
    const before = (await snapshot()).length;
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
    expect((await snapshot()).length).toBe(before + 1);
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
