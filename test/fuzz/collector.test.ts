import { createHash } from "node:crypto";
import type { createCollectorApp } from "@clawguard/collector/api/app";
import { testCollectorApp } from "@clawguard/collector/api/test-app";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
import type { Db } from "@clawguard/collector/store/db";
import { migrate } from "@clawguard/collector/store/migrations";
import { backends } from "@clawguard/collector/store/test-backends";
import { type ChainHead, EMPTY_HEAD, hashEvent, type SealKey, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  answered,
  assertOptions,
  checkAnswer,
  deepJson,
  nastyJson,
  nastyNumber,
  nastyQuery,
  nastyString,
  reportTally,
  TEST_MS,
} from "./support.ts";

/**
 * Every endpoint of the collector under hostile input, on both stores: no 5xx, no hang, an error
 * that names what is wrong; afterwards every stored chain still verifies but for what was recorded
 * (gaps and breaks the fuzzer made on purpose, each an audit.integrity event), and the collector's
 * own chain verifies whole.
 */

const INGEST = "i".repeat(40);
const READ = "r".repeat(40);
const KEY: SealKey = { id: "k1", key: Buffer.from("fuzz-sealing-key-0123456789abcdefgh") };
const EVENT_FIELDS = [
  "id",
  "seq",
  "time",
  "source",
  "session",
  "type",
  "severity",
  "attrs",
  "prev_hash",
  "hash",
  "seal",
];

/** A well-formed event of `main`, sealed, then changed the way an attacker or a bug would. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant("field" as const),
    field: fc.constantFrom(...EVENT_FIELDS),
    value: nastyJson,
  }),
  fc.record({ kind: fc.constant("attr" as const), key: nastyString, value: nastyJson }),
  fc.record({
    kind: fc.constant("string" as const),
    field: fc.constantFrom("session", "time", "type", "id"),
    value: nastyString,
  }),
  fc.record({
    kind: fc.constant("source" as const),
    field: fc.constantFrom("agent", "role", "host"),
    value: nastyString,
  }),
  fc.record({ kind: fc.constant("seq" as const), value: nastyNumber }),
  fc.record({
    kind: fc.constant("time" as const),
    parts: fc.tuple(
      fc.integer({ min: 0, max: 10_001 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom("Z", "+14:00", "-14:01", "+23:59", ".123456789Z", "+00:60"),
    ),
  }),
  fc.record({
    kind: fc.constant("deep" as const),
    depth: fc.integer({ min: 20, max: 20_000 }),
    array: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("none" as const) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

const DEEP_MARK = "__deep_attrs__";

/** The event as JSON text after a mutation, rehashed (and resealed) or not. */
function mutated(
  head: ChainHead,
  m: Mutation,
  rehash: boolean,
  reseal: boolean,
): { json: string; event: AuditEvent } {
  const sealed = sealEvent(
    draftEvent({
      source: { agent: "main", role: "agent", host: "h" },
      type: "exec.completed",
      attrs: { n: head.seq },
    }),
    head,
    KEY,
  );
  const e = { ...sealed } as Record<string, unknown>;
  let deep: string | undefined;
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  if (m.kind === "field") e[m.field] = m.value;
  else if (m.kind === "attr") e.attrs = { ...(e.attrs as object), [m.key]: m.value };
  else if (m.kind === "string") e[m.field] = m.value;
  else if (m.kind === "source") e.source = { ...(e.source as object), [m.field]: m.value };
  else if (m.kind === "seq") e.seq = m.value;
  else if (m.kind === "time") {
    const [y, mo, d, h, mi, z] = m.parts;
    e.time = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:00${z}`;
  } else if (m.kind === "deep") {
    e.attrs = { d: DEEP_MARK };
    deep = deepJson(m.depth, m.array ? "array" : "object");
  }
  if (rehash && m.kind !== "deep") {
    try {
      e.hash = hashEvent(e as unknown as AuditEvent);
      if (reseal)
        e.seal = sealEvent(
          e as unknown as AuditEvent,
          { seq: Number(e.seq) - 1, hash: String(e.prev_hash) },
          KEY,
        ).seal;
    } catch {
      // A value the canonical form cannot take (the server must refuse it all the same).
    }
  }
  let json = JSON.stringify(e);
  if (deep) json = json.replace(`"${DEEP_MARK}"`, deep);
  return { json, event: sealed };
}

describe.each(backends)("fuzz: the collector's API on $name", ({ name, skip, open }) => {
  let db: Db;
  let done: () => Promise<void>;
  let store: AuditStore;
  let app: ReturnType<typeof createCollectorApp>;
  let head: ChainHead = EMPTY_HEAD;
  const suite = `collector-${name.includes("PGlite") ? "pglite" : "postgres"}`;
  const request = (path: string, init: RequestInit & { token?: string } = {}) =>
    answered(
      `${init.method ?? "GET"} ${path}`,
      Promise.resolve(
        app.request(path, {
          ...init,
          headers: {
            authorization: `Bearer ${init.token ?? READ}`,
            ...(init.headers as Record<string, string>),
          },
        }),
      ),
    );
  const post = (path: string, body: string, token = INGEST, type = "application/json") =>
    request(path, { method: "POST", body, token, headers: { "content-type": type } });

  beforeAll(async () => {
    if (skip) return;
    ({ db, done } = await open());
    await migrate(db);
    store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "fuzz" });
    app = testCollectorApp(db, {
      store,
      ingestTokens: new TokenSet<string>().add(INGEST, "main"),
      readTokens: new TokenSet<string>().add(READ, "reader"),
      sealKeys: new Map([["main", new Map([[KEY.id, KEY.key]])]]),
      bodyLimitBytes: 4 * 1024 * 1024,
      blobLimitBytes: 256 * 1024,
      maxBatchEvents: 1000,
      log: silentLogger,
    });
  });
  afterAll(async () => {
    if (skip) return;
    reportTally(suite);
    await db.close();
    await done();
  });

  it.skipIf(skip)("POST /v1/events: batches of mutated events", { timeout: TEST_MS }, async () => {
    const batchArb = fc.array(fc.tuple(mutation, fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(batchArb, async (items) => {
        const texts = items.map(([m, rehash, reseal]) => {
          const { json, event } = mutated(head, m, rehash, reseal);
          if (m.kind === "none") head = { seq: event.seq, hash: event.hash };
          return json;
        });
        const body = await checkAnswer(
          "POST /v1/events (events)",
          await post("/v1/events", `{"events":[${texts.join(",")}]}`),
        );
        const results = (body as { results?: { status: string; errors?: string[] }[] }).results ?? [];
        for (const r of results)
          if (r.status === "rejected") expect(r.errors?.join(" ").length).toBeGreaterThan(5);
      }),
      assertOptions(),
    );
  });

  it.skipIf(skip)("POST /v1/events: any body, any type, any token", { timeout: TEST_MS }, async () => {
    const bodyArb = fc.oneof(
      nastyJson.map((v) => JSON.stringify(v) ?? "null"),
      nastyJson.map((v) => JSON.stringify({ events: v })),
      fc.array(nastyJson, { maxLength: 5 }).map((events) => JSON.stringify({ events })),
      fc.integer({ min: 10, max: 100_000 }).map((d) => `{"events":${deepJson(d, "array")}}`),
      fc.string({ unit: "binary", maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(
        bodyArb,
        fc.constantFrom("application/json", "text/plain", "application/json; charset=utf-8", ""),
        fc.constantFrom(INGEST, READ, "x".repeat(40)),
        async (body, type, token) => {
          await checkAnswer("POST /v1/events (any body)", await post("/v1/events", body, token, type));
        },
      ),
      assertOptions(),
    );
  });

  it.skipIf(skip)("POST /v1/heartbeats", { timeout: TEST_MS }, async () => {
    const base = {
      agent: "main",
      role: "agent",
      host: "h",
      state: "healthy",
      reasons: [],
      probes: [],
      versions: {},
      configFingerprint: "f".repeat(64),
      intervalMs: 10_000,
      time: new Date().toISOString(),
    };
    const arb = fc.oneof(
      fc
        .tuple(fc.constantFrom(...Object.keys(base), "extra"), nastyJson)
        .map(([k, v]) => JSON.stringify({ ...base, [k]: v })),
      fc
        .array(nastyString, { maxLength: 4 })
        .map((reasons) => JSON.stringify({ ...base, state: "degraded", reasons })),
      nastyJson.map((v) => JSON.stringify(v) ?? "null"),
      fc
        .integer({ min: 10, max: 50_000 })
        .map((d) => JSON.stringify({ ...base, versions: "D" }).replace('"D"', deepJson(d, "object"))),
    );
    await fc.assert(
      fc.asyncProperty(arb, async (body) => {
        await checkAnswer("POST /v1/heartbeats", await post("/v1/heartbeats", body));
      }),
      assertOptions(),
    );
  });

  it.skipIf(skip)(
    "GET /v1/audit, /v1/audit/verify, /v1/fleet, /v1/incidents, /v1/memory/history",
    { timeout: TEST_MS },
    async () => {
      const routes = [
        ["/v1/audit", ["agent", "session", "type", "since", "until", "limit", "cursor"]],
        ["/v1/audit/verify", ["agent"]],
        ["/v1/fleet", []],
        ["/v1/incidents", ["agent", "open", "limit", "cursor"]],
        ["/v1/memory/history", ["path", "agent", "limit", "cursor"]],
      ] as const;
      // Values that reached PostgreSQL before: checked on every run, whatever the seed draws.
      const known = [
        "session=%00",
        "session=%ED%A0%80",
        "since=0000-01-01T00:00:00Z",
        "until=2026-02-30T00:00:00Z",
        "path=a%00b",
        "agent=%00",
        "cursor=%00",
        "limit=9007199254740993",
        "type=exec.%00",
      ];
      for (const [route, names] of routes) {
        await fc.assert(
          fc.asyncProperty(nastyQuery(names), fc.constantFrom(READ, INGEST), async (query, token) => {
            await checkAnswer(`GET ${route}`, await request(`${route}?${query}`, { token }));
          }),
          { ...assertOptions(), examples: known.map((q) => [q, READ] as [string, string]) },
        );
      }
    },
  );

  it.skipIf(skip)("PUT, HEAD and GET /v1/blobs/:sha256", { timeout: TEST_MS }, async () => {
    const idArb = fc.oneof(
      nastyString.map((s) => encodeURIComponent(s.toWellFormed())),
      fc.uint8Array({ maxLength: 64 }).map((b) => createHash("sha256").update(b).digest("hex")),
      fc.constantFrom("..%2F..%2Fetc", "%00", "A".repeat(64), "f".repeat(65)),
    );
    await fc.assert(
      fc.asyncProperty(
        idArb,
        fc.uint8Array({ maxLength: 300_000 }),
        fc.constantFrom("PUT", "HEAD", "GET"),
        fc.constantFrom("application/octet-stream", "application/json", ""),
        async (id, content, method, type) => {
          // Half the PUTs name their content's real hash, so some are stored.
          const realId =
            method === "PUT" && content.length % 2 === 0
              ? createHash("sha256").update(content).digest("hex")
              : id;
          const init: RequestInit & { token?: string } = { method, token: method === "GET" ? READ : INGEST };
          if (method === "PUT") Object.assign(init, { body: content, headers: { "content-type": type } });
          const answer = await request(`/v1/blobs/${realId}`, init);
          await checkAnswer(`${method} /v1/blobs/:sha256`, answer, method === "HEAD");
        },
      ),
      assertOptions(),
    );
  });

  it.skipIf(skip)("GET /healthz, /readyz and unknown routes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/healthz", "/readyz", "/v1/nope", "/v1/events", "/%00", "/v1/audit/%ED%A0%80"),
        fc.constantFrom("GET", "DELETE", "PATCH", "OPTIONS"),
        async (path, method) => {
          await checkAnswer("other routes and methods", await request(path, { method }));
        },
      ),
      assertOptions(Math.min(50, assertOptions().numRuns ?? 50)),
    );
  });

  it.skipIf(skip)("afterwards every chain verifies but for what was recorded", async () => {
    const collectorChain = await store.verify(COLLECTOR_AGENT);
    expect(collectorChain.problems).toEqual([]);
    for (const agent of await store.agents()) {
      const v = await store.verify(agent);
      // Stored events are never altered; only gaps and breaks the fuzzer made, each recorded.
      expect(
        v.problems.filter((p) => !["gap", "broken_link"].includes(p.kind)),
        agent,
      ).toEqual([]);
      if (v.problems.length > 0) expect(v.recorded_integrity_events, agent).toBeGreaterThan(0);
    }
  });
});
