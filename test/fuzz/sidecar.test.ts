import { mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashEvent, type SealKey, sealMatches } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent, validateEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { ulid } from "@clawguard/shared/ids";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { createSidecarApp } from "@clawguard/sidecar/api/app";
import { EventBus } from "@clawguard/sidecar/bus";
import { statePaths, workspacePaths } from "@clawguard/sidecar/paths";
import { Shipper } from "@clawguard/sidecar/sinks/shipper/index";
import { Spool } from "@clawguard/sidecar/sinks/spool/spool";
import { execGuardConfig } from "@clawguard/sidecar/sources/exec-guard/config";
import { createExecGuard, SpillStore } from "@clawguard/sidecar/sources/exec-guard/index";
import { InboxSource } from "@clawguard/sidecar/sources/inbox/index";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  answered,
  assertOptions,
  checkAnswer,
  deepJson,
  nastyJson,
  nastyQuery,
  nastyString,
  reportTally,
  TEST_MS,
} from "./support.ts";

/**
 * The sidecar's control API and its inbox (which the agent writes) under hostile input: no 5xx, no
 * hang, errors that name the field; every event that reaches the spool is one the collector takes
 * (schema and storable text), sealed, and the spool's chain links whole afterwards.
 */

const TOKEN = "s".repeat(40);
const KEY: SealKey = { id: "k1", key: Buffer.from("fuzz-sidecar-sealing-key-0123456789") };
const source = { agent: "main", role: "agent", host: "fuzz" };
const tmp = tempDir("clawguard-fuzz-sidecar-");
const paths = workspacePaths(tmp.path, "main");
/** The sidecar's own state (spool, dead letters): outside the workspace, as the sidecar requires. */
const stateTmp = tempDir("clawguard-fuzz-state-");
const state = statePaths(stateTmp.path);
let spool: Spool;
let inbox: InboxSource;
let shipper: Shipper;
let app: ReturnType<typeof createSidecarApp>;
let spillId: string;

const request = (path: string, init: RequestInit = {}) =>
  answered(
    `${init.method ?? "GET"} ${path}`,
    Promise.resolve(
      app.request(path, {
        ...init,
        headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) },
      }),
    ),
  );

beforeAll(async () => {
  mkdirSync(paths.inbox, { recursive: true });
  mkdirSync(join(tmp.path, "sub"), { recursive: true });
  spool = await Spool.open({
    dir: state.spool,
    maxBytes: 64 * 1024 * 1024,
    segmentBytes: 4 * 1024 * 1024,
    fsync: "never",
    fsyncIntervalMs: 1000,
    sealKey: KEY,
    log: silentLogger,
  });
  const bus = new EventBus(spool);
  const spill = new SpillStore(paths.spill);
  shipper = new Shipper({
    url: "http://127.0.0.1:9",
    token: "ingest",
    spool,
    deadLetterFile: state.deadLetter,
    batchMaxEvents: 100,
    batchMaxBytes: 1 << 20,
    timeoutMs: 1000,
    backoffMinMs: 100,
    backoffMaxMs: 1000,
    log: silentLogger,
  });
  inbox = new InboxSource({
    dir: paths.inbox,
    quarantineDir: paths.quarantine,
    workspace: tmp.path,
    source,
    bus,
    alreadySpooled: (id) => spool.has(id),
    log: silentLogger,
  });
  app = createSidecarApp({
    agent: "main",
    workspace: tmp.path,
    tokens: new TokenSet<string>().add(TOKEN, "main"),
    bodyLimitBytes: 256 * 1024,
    spill,
    spool,
    shipper,
    log: silentLogger,
  });
  // One real spill to page through (output over maxBytes), as `clawguard exec` leaves one.
  const guard = createExecGuard({
    source,
    spill,
    config: execGuardConfig.parse({ maxBytes: 2000, previewBytes: 1000, timeoutMs: 5000 }),
    readCommand: "clawguard read",
  });
  const result = await guard.run({
    argv: ["printf", "line %s\n", ...Array.from({ length: 2000 }, (_, i) => String(i))],
    cwd: tmp.path,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  spillId = result.outcome?.spilled ? result.outcome.id : "";
  expect(spillId).toMatch(/\w/);
});

afterAll(async () => {
  reportTally("sidecar");
  await inbox.stop();
  await shipper.stop();
  await spool.close();
  tmp.cleanup();
  stateTmp.cleanup();
});

describe("fuzz: the sidecar's control API and inbox", () => {
  it("GET /v1/spill/:id", { timeout: TEST_MS }, async () => {
    const id = fc.oneof(
      fc.constant(() => spillId),
      nastyString.map((s) => () => s.toWellFormed()),
    );
    await fc.assert(
      fc.asyncProperty(
        id,
        nastyQuery(["offset", "limit", "lines", "grep", "maxMatches"]),
        async (idOf, query) => {
          const answer = await request(`/v1/spill/${encodeURIComponent(idOf())}?${query}`);
          await checkAnswer("GET /v1/spill/:id", answer);
        },
      ),
      {
        ...assertOptions(),
        examples: [
          [() => spillId, "grep=(a%2B)%2B%24"],
          [() => spillId, "lines=0:99999999999999999999"],
          [() => spillId, "grep=%5B"],
          [() => "..%2F..%2Fetc%2Fpasswd", ""],
        ],
      },
    );
  });

  it("GET /healthz, /readyz and unknown routes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/healthz", "/readyz", "/v1/nope", "/v1/exec", "/%00"),
        fc.constantFrom("GET", "DELETE", "PUT"),
        async (path, method) => {
          await checkAnswer("other routes and methods", await request(path, { method }));
        },
      ),
      assertOptions(Math.min(50, assertOptions().numRuns ?? 50)),
    );
  });

  it("the inbox: whatever the agent drops there", { timeout: TEST_MS }, async () => {
    const good = () => draftEvent({ source, type: "exec.completed", attrs: { ok: true } });
    const file = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(
            "id",
            "time",
            "source",
            "session",
            "type",
            "severity",
            "attrs",
            "seq",
            "hash",
            "extra",
          ),
          nastyJson,
        )
        .map(([k, v]) => {
          const d = { ...good(), [k]: v } as Record<string, unknown>;
          return { name: `${String(good().id)}.json`, text: JSON.stringify(d) };
        }),
      fc.tuple(nastyString, nastyJson).map(([k, v]) => {
        const d = { ...good(), attrs: { [k]: v } };
        return { name: `${d.id}.json`, text: JSON.stringify(d) };
      }),
      fc.integer({ min: 10, max: 50_000 }).map((depth) => {
        const d = good();
        return {
          name: `${d.id}.json`,
          text: JSON.stringify(d).replace('{"ok":true}', deepJson(depth, "object")),
        };
      }),
      fc.string({ unit: "binary", maxLength: 300 }).map((text) => ({ name: `${ulid()}.json`, text })),
      fc.constant(null).map(() => {
        const d = good();
        return { name: `${d.id}.json`, text: JSON.stringify(d) };
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(file, { minLength: 1, maxLength: 5 }), async (files) => {
        // Written a minute ago: a file not valid JSON yet and written within 2 s is left for a later
        // drain (a writer that does not rename into place is seen mid-write); these are finished.
        const before = new Date(Date.now() - 60_000);
        for (const f of files) {
          writeFileSync(join(paths.inbox, f.name), f.text);
          utimesSync(join(paths.inbox, f.name), before, before);
        }
        await answered("inbox drain", inbox.kick());
        const tally = await checkInbox(files.length);
        expect(tally.left).toBe(0);
      }),
      assertOptions(),
    );
  });

  it("afterwards every spooled event is one the collector takes, sealed, and the chain links whole", async () => {
    const events = (await spool.read(0, 1_000_000, 1 << 30)).map((e) => JSON.parse(e.json) as AuditEvent);
    expect(events.length).toBeGreaterThan(100);
    let prev = "0".repeat(64);
    events.forEach((event, i) => {
      const checked = validateEvent(event, `spool[${i}]`);
      expect(checked.ok ? [] : checked.errors).toEqual([]);
      expect(event.seq).toBe(i + 1);
      expect(event.prev_hash).toBe(prev);
      expect(hashEvent(event)).toBe(event.hash);
      expect(event.seal && sealMatches(KEY.key, event.hash, event.seal)).toBe(true);
      prev = event.hash;
    });
  });
});

/** Tallies each file the inbox was given and checks it emptied (each file spooled or quarantined). */
async function checkInbox(dropped: number): Promise<{ left: number }> {
  const left = readdirSync(paths.inbox).filter((n) => n.endsWith(".json")).length;
  for (let i = 0; i < dropped; i++)
    await checkAnswer("inbox files", new Response(null, { status: left === 0 ? 200 : 500 }), true);
  return { left };
}
