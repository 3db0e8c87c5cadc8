import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testCollectorApp } from "@clawguard/collector/api/test-app";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
import type { Db } from "@clawguard/collector/store/db";
import { migrate } from "@clawguard/collector/store/migrations";
import { backends } from "@clawguard/collector/store/test-backends";
import { hashEvent, type SealKey } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { type Listening, listen } from "@clawguard/shared/http/serve";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import type { DeadLetter } from "@clawguard/sidecar/sinks/shipper/index";
import { Shipper } from "@clawguard/sidecar/sinks/shipper/index";
import { encodeFrame, scanFrames } from "@clawguard/sidecar/sinks/spool/frame";
import { Spool } from "@clawguard/sidecar/sinks/spool/spool";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The audit trail against an attacker in the agent's container, who can write the spool (it is on
 * the shared workspace volume) but cannot read the sidecar's sealing key: an edited and re-chained
 * spool is caught by the collector, one bad event never stops the trail, and a key can be rotated.
 * A real spool and shipper, a real collector over HTTP, on both stores.
 */

const KEY: SealKey = { id: "k2", key: Buffer.from("current-sealing-key-0123456789abcdef") };
const OLD: SealKey = { id: "k1", key: Buffer.from("previous-sealing-key-0123456789abcde") };
const tokenOf = (agent: string) => `ingest-${agent}`.padEnd(40, "x");
const AGENTS = ["tamper", "strip", "rotate", "unknown", "poison", "unkeyed", "nul"];

describe.each(backends)("audit trail against the agent's container on $name", ({ skip, open }) => {
  let db: Db;
  let done: () => Promise<void>;
  let store: AuditStore;
  let server: Listening;
  const dirs: { cleanup: () => void }[] = [];

  beforeAll(async () => {
    if (skip) return;
    ({ db, done } = await open());
    await migrate(db);
    store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
    const keys = new Map([
      [KEY.id, KEY.key],
      [OLD.id, OLD.key],
    ]);
    const app = testCollectorApp(db, {
      store,
      ingestTokens: AGENTS.reduce((set, a) => set.add(tokenOf(a), a), new TokenSet<string>()),
      readTokens: new TokenSet<string>().add("r".repeat(40), "reader"),
      sealKeys: new Map(AGENTS.filter((a) => a !== "unkeyed" && a !== "nul").map((a) => [a, keys])),
      bodyLimitBytes: 16 * 1024 * 1024,
      blobLimitBytes: 1024 * 1024,
      maxBatchEvents: 10_000,
      log: silentLogger,
    });
    server = await listen(app.fetch, "127.0.0.1", 0);
  });
  afterAll(async () => {
    if (skip) return;
    await server.close();
    await db.close();
    await done();
    for (const d of dirs) d.cleanup();
  });

  async function openSpool(dir: string, sealKey: SealKey | undefined) {
    return Spool.open({
      dir,
      maxBytes: 16 * 1024 * 1024,
      segmentBytes: 1024 * 1024,
      fsync: "never",
      fsyncIntervalMs: 1000,
      sealKey,
      log: silentLogger,
    });
  }

  /** Appends `count` events of `agent` to a fresh spool sealed with `key`; returns its directory. */
  async function spoolWith(agent: string, count: number, key: SealKey | undefined): Promise<string> {
    const tmp = tempDir(`clawguard-trail-${agent}-`);
    dirs.push(tmp);
    const spool = await openSpool(tmp.path, key);
    for (let n = 1; n <= count; n++)
      await spool.append([
        draftEvent({ source: { agent, role: "agent", host: "h" }, type: "exec.completed", attrs: { n } }),
      ]);
    await spool.close();
    return tmp.path;
  }

  /** What the agent can do to the spool: rewrite events from `fromSeq` on and rebuild the chain. */
  function tamper(dir: string, fromSeq: number, edit: (event: AuditEvent) => AuditEvent): void {
    let prev: string | undefined;
    for (const name of readdirSync(dir).filter((n) => n.startsWith("seg-"))) {
      const path = join(dir, name);
      const frames = scanFrames(readFileSync(path)).frames.map((f) => {
        const record = JSON.parse(f.payload.toString("utf8")) as AuditEvent;
        if (record.id === undefined) return encodeFrame(JSON.stringify(record));
        let event = record;
        if (event.seq >= fromSeq) {
          event = edit({ ...event, prev_hash: prev ?? event.prev_hash });
          event = { ...event, hash: hashEvent(event) };
        }
        prev = event.hash;
        return encodeFrame(JSON.stringify(event));
      });
      writeFileSync(path, Buffer.concat(frames));
    }
  }

  /** Ships a spool to the collector until it is drained; returns what was dead-lettered. */
  async function ship(agent: string, dir: string, key: SealKey | undefined, more: number[] = []) {
    const spool = await openSpool(dir, key);
    const letters: DeadLetter[] = [];
    const shipper = new Shipper({
      url: server.url,
      token: tokenOf(agent),
      spool,
      deadLetterFile: join(dir, "dead-letter.jsonl"),
      batchMaxEvents: 100,
      batchMaxBytes: 1 << 20,
      timeoutMs: 5000,
      backoffMinMs: 10,
      backoffMaxMs: 100,
      onDeadLetter: (l) => letters.push(...l),
      log: silentLogger,
    });
    await shipper.start();
    for (const n of more)
      await spool.append([
        draftEvent({ source: { agent, role: "agent", host: "h" }, type: "exec.completed", attrs: { n } }),
      ]);
    const drained = await shipper.flush(20_000);
    const status = shipper.status;
    await shipper.stop();
    await spool.close();
    expect(drained).toBe(true);
    return { letters, status };
  }

  async function findings(agent: string): Promise<Record<string, unknown>[]> {
    const { rows } = await db.query<{ body: string }>(
      `SELECT body FROM audit_events WHERE agent = $1 AND (body::jsonb -> 'attrs' ->> 'agent') = $2 ORDER BY seq`,
      [COLLECTOR_AGENT, agent],
    );
    return rows.map((r) => (JSON.parse(r.body) as AuditEvent).attrs);
  }

  const storedSeqs = async (agent: string) =>
    (await store.query({ agent, limit: 1000 })).events.map((e) => e.seq).sort((a, b) => a - b);

  it.skipIf(skip)(
    "an edited, re-chained spool is caught: seal_mismatch, once, and the trail goes on",
    async () => {
      const dir = await spoolWith("tamper", 5, KEY);
      // While the collector is down, the agent rewrites event 3 and re-chains 3..5 (hashes are public).
      tamper(dir, 3, (e) => (e.seq === 3 ? { ...e, attrs: { n: 999, rm: "-rf /evidence" } } : e));
      const { letters, status } = await ship("tamper", dir, KEY, [6]);
      expect(letters.map((l) => l.errors.join(" "))).toEqual(Array(3).fill(expect.stringMatching(/seal/)));
      expect(status.rejected).toBe(3);
      // 1, 2 and the sidecar's next event (sealed by it, after the forged head) are stored; 3..5 are not.
      expect(await storedSeqs("tamper")).toEqual([1, 2, 6]);
      const found = (await findings("tamper")).map((f) => [f.kind, f.seq, f.last_seq ?? f.missing_to]);
      expect(found.sort()).toEqual([
        ["gap", 6, 5],
        ["seal_mismatch", 3, 5],
      ]);
      const verified = await store.verify("tamper");
      expect(verified.ok).toBe(false);
      expect(verified.recorded_integrity_events).toBe(2);
      expect((await store.verify(COLLECTOR_AGENT)).ok).toBe(true);
    },
  );

  it.skipIf(skip)("stripping the seals is caught as seal_missing", async () => {
    const dir = await spoolWith("strip", 3, KEY);
    tamper(dir, 2, (e) => {
      const { seal: _seal, ...rest } = e;
      return { ...rest, attrs: { n: 0 } };
    });
    const { letters } = await ship("strip", dir, KEY);
    expect(letters).toHaveLength(2);
    expect(await storedSeqs("strip")).toEqual([1]);
    expect((await findings("strip")).map((f) => f.kind)).toEqual(["seal_missing"]);
  });

  it.skipIf(skip)("a key being rotated: the previous key is accepted, an unknown one is not", async () => {
    const rotating = await spoolWith("rotate", 2, OLD);
    expect((await ship("rotate", rotating, KEY, [3])).letters).toEqual([]);
    expect(await storedSeqs("rotate")).toEqual([1, 2, 3]);
    expect(await findings("rotate")).toEqual([]);
    const stray: SealKey = { id: "k9", key: Buffer.from("a-key-the-collector-never-heard-of-000") };
    const unknown = await spoolWith("unknown", 2, stray);
    expect((await ship("unknown", unknown, stray)).letters).toHaveLength(2);
    expect((await findings("unknown")).map((f) => f.kind)).toEqual(["seal_unknown_key"]);
  });

  it.skipIf(skip)(
    "one event the collector refuses is set aside; every later event is delivered",
    async () => {
      const tmp = tempDir("clawguard-trail-poison-");
      dirs.push(tmp);
      const spool = await openSpool(tmp.path, KEY);
      const event = (agent: string, n: number) =>
        draftEvent({ source: { agent, role: "agent", host: "h" }, type: "exec.completed", attrs: { n } });
      // The middle one names another agent: refused for good (this token speaks for "poison" only).
      await spool.append([event("poison", 1), event("someone-else", 2), event("poison", 3)]);
      await spool.close();
      const { letters, status } = await ship("poison", tmp.path, KEY, [4]);
      expect(letters).toEqual([
        { id: expect.any(String), type: "exec.completed", errors: [expect.stringMatching(/someone-else/)] },
      ]);
      expect(status.rejected).toBe(1);
      expect(await storedSeqs("poison")).toEqual([1, 3, 4]);
      expect((await findings("poison")).map((f) => [f.kind, f.missing_from, f.missing_to])).toEqual([
        ["gap", 2, 2],
      ]);
    },
  );

  it.skipIf(skip)(
    "a NUL the database cannot store costs that event, not the trail (was: 500 forever)",
    async () => {
      const dir = await spoolWith("nul", 3, undefined);
      tamper(dir, 2, (e) => (e.seq === 2 ? { ...e, session: "a\u0000b" } : e));
      const { letters } = await ship("nul", dir, undefined, [4]);
      expect(letters).toEqual([
        { id: expect.any(String), type: "exec.completed", errors: [expect.stringMatching(/session: .*NUL/)] },
      ]);
      expect(await storedSeqs("nul")).toEqual([1, 3, 4]);
      expect((await findings("nul")).map((f) => f.kind)).toEqual(["gap"]);
    },
  );

  it.skipIf(skip)("an agent the collector has no key for is taken unsealed, as before", async () => {
    const dir = await spoolWith("unkeyed", 2, undefined);
    expect((await ship("unkeyed", dir, undefined)).letters).toEqual([]);
    expect(await storedSeqs("unkeyed")).toEqual([1, 2]);
  });
});
