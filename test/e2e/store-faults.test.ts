import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { draftEvent } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { Shipper } from "@clawguard/sidecar/sinks/shipper/index";
import { Spool } from "@clawguard/sidecar/sinks/spool/spool";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  type PrivatePostgres,
  privatePostgresMissing,
  startPrivatePostgres,
} from "../support/private-stores.ts";
import { freePort, type Managed, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * Chaos drill, PostgreSQL: a collector (a real process) on a PostgreSQL of the drill's own, fed by
 * several senders at once (the sidecar's own spool and shipper, in this process), while the server
 * is restarted `-m immediate` and every connection to it is killed (pg_terminate_backend) again and
 * again. The collector must never exit, answer 503 with Retry-After while the store is down, come
 * back by itself, and store every event produced exactly once, in chains that verify.
 * CLAWGUARD_CHAOS_LONG=1 runs a longer drill (25 restarts, 8 senders).
 */

const LONG = process.env.CLAWGUARD_CHAOS_LONG === "1";
const SENDERS = LONG ? 8 : 4;
const RESTARTS = LONG ? 25 : 5;
const KILLS_PER_ROUND = 3;
const missing = privatePostgresMissing();
if (missing) console.warn(`[store-faults] private PostgreSQL not possible (${missing}): drill skipped`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sender {
  agent: string;
  spool: Spool;
  shipper: Shipper;
  produced: string[];
}

describe.skipIf(missing !== undefined)("collector under PostgreSQL failures (private server)", () => {
  const procs = new Processes();
  const dir = tempDir("clawguard-store-faults-");
  let server: PrivatePostgres | undefined;
  const senders: Sender[] = [];

  afterAll(async () => {
    for (const s of senders) {
      await s.shipper.stop();
      await s.spool.close();
    }
    await procs.cleanup();
    await server?.destroy();
    dir.cleanup();
  });

  it(`never exits, answers 503 while down, stores every event exactly once (${RESTARTS} restarts -m immediate)`, {
    timeout: LONG ? 900_000 : 240_000,
  }, async () => {
    server = await startPrivatePostgres();
    const pgServer = server;
    const agents = [...Array.from({ length: SENDERS }, (_, i) => `sender-${i}`), "probe"];
    const tokens = Object.fromEntries(agents.map((a) => [a, randomBytes(16).toString("hex")]));
    const read = randomBytes(16).toString("hex");
    writeFileSync(join(dir.path, "tokens"), agents.map((a) => `${a} ${tokens[a]}\n`).join(""));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const collector: Managed = procs.cli(
      "collector",
      ["collector"],
      {
        DATABASE_URL: pgServer.url,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
        CLAWGUARD_COLLECTOR_DATA_DIR: join(dir.path, "data"),
        CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
        CLAWGUARD_READ_TOKEN: read,
        CLAWGUARD_LOG_LEVEL: "warn",
        CLAWGUARD_LOG_FORMAT: "json",
      },
      dir.path,
    );
    let exitedWith: number | NodeJS.Signals | undefined;
    void collector.exited.then((code) => {
      exitedWith = code;
    });
    await waitUntilUp(`${url}/readyz`, collector, 60_000);

    for (const agent of agents.filter((a) => a !== "probe")) {
      const spool = await Spool.open({
        dir: join(dir.path, agent, "spool"),
        maxBytes: 256 * 1024 * 1024,
        segmentBytes: 4 * 1024 * 1024,
        fsync: "never",
        fsyncIntervalMs: 1000,
        log: silentLogger,
      });
      const shipper = new Shipper({
        url,
        token: tokens[agent] as string,
        spool,
        deadLetterFile: join(dir.path, agent, "dead-letter.jsonl"),
        batchMaxEvents: 100,
        batchMaxBytes: 512 * 1024,
        timeoutMs: 5000,
        backoffMinMs: 100,
        backoffMaxMs: 2000,
        log: silentLogger,
      });
      await shipper.start();
      senders.push({ agent, spool, shipper, produced: [] });
    }

    // Producers: each sender appends a few events every 25 ms, for as long as the faults go on.
    let producing = true;
    const producers = senders.map(async (s) => {
      let n = 0;
      while (producing) {
        const drafts = Array.from({ length: 5 }, () =>
          draftEvent({
            source: { agent: s.agent, role: "agent", host: "drill" },
            type: "exec.completed",
            attrs: { n: n++ },
          }),
        );
        const sealed = await s.spool.append(drafts);
        s.produced.push(...sealed.map((e) => e.id));
        await sleep(25);
      }
    });

    // 1. The store stops outright: ingest answers 503 with Retry-After, readiness says so, the
    //    process stays; the server comes back and ingest resumes by itself.
    await sleep(1000);
    await pgServer.stopImmediate();
    const event = sealEvent(
      draftEvent({ source: { agent: "probe", role: "agent", host: "drill" }, type: "exec.completed" }),
      EMPTY_HEAD,
    );
    const probe = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.probe}`, "content-type": "application/json" },
      body: JSON.stringify({ events: [event] }),
    });
    const down = { status: probe.status, retryAfter: probe.headers.get("retry-after") };
    const ready = await fetch(`${url}/readyz`);
    const readyDown = { status: ready.status, body: (await ready.json()) as { failing: string[] } };
    await sleep(1500); // senders retrying against a collector with no store
    await pgServer.start();

    // 2. Restarts -m immediate, with connections killed between them.
    let killed = 0;
    for (let round = 0; round < RESTARTS; round++) {
      for (let k = 0; k < KILLS_PER_ROUND; k++) {
        await sleep(400);
        killed += await pgServer.terminateBackends().catch(() => 0);
      }
      await sleep(300);
      await pgServer.restartImmediate();
    }
    await sleep(1000);
    producing = false;
    await Promise.all(producers);
    const flushed = await Promise.all(
      senders.map((s) => s.shipper.flush(exitedWith === undefined ? 120_000 : 1000)),
    );
    if (exitedWith !== undefined)
      throw new Error(
        `the collector exited (${exitedWith}); its last output:\n${collector.output().slice(-6000)}`,
      );

    // Counts, from the store itself.
    const client = new pg.Client({ connectionString: pgServer.url });
    await client.connect();
    const rows: { agent: string; ids: string[] }[] = [];
    try {
      for (const s of senders) {
        const { rows: stored } = await client.query<{ id: string }>(
          "SELECT id FROM audit_events WHERE agent = $1",
          [s.agent],
        );
        rows.push({ agent: s.agent, ids: stored.map((r) => r.id) });
      }
    } finally {
      await client.end();
    }
    const produced = senders.reduce((n, s) => n + s.produced.length, 0);
    const storedIds = rows.flatMap((r) => r.ids);
    const distinct = new Set(storedIds);
    const producedIds = new Set(senders.flatMap((s) => s.produced));
    const lost = [...producedIds].filter((id) => !distinct.has(id)).length;
    const extra = [...distinct].filter((id) => !producedIds.has(id)).length;
    const verify = (await (
      await fetch(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${read}` } })
    ).json()) as { ok: boolean; agents: { agent: string; ok: boolean; events: number }[] };
    const warnings = collector
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string });
    const counts = (msg: RegExp) => warnings.filter((w) => msg.test(w.msg)).length;
    console.log(
      `[store-faults] senders ${SENDERS}, restarts -m immediate ${RESTARTS} (+1 stop/start), backends terminated ${killed}: ` +
        `produced ${produced}, stored ${storedIds.length}, duplicated ${storedIds.length - distinct.size}, lost ${lost}, unknown ${extra}; ` +
        `while stopped: ingest ${down.status} Retry-After ${down.retryAfter}, readyz ${readyDown.status}; ` +
        `collector: ${counts(/unavailable/)} store-unavailable lines, ${counts(/connection lost/)} connection-lost warnings, exited: ${exitedWith ?? "no"}`,
    );

    expect(down).toEqual({ status: 503, retryAfter: "1" });
    expect(readyDown).toMatchObject({ status: 503, body: { failing: ["store"] } });
    expect(exitedWith).toBeUndefined();
    expect((await fetch(`${url}/healthz`)).ok).toBe(true);
    expect(flushed.every(Boolean)).toBe(true);
    expect(produced).toBeGreaterThan(SENDERS * 100);
    expect(storedIds.length).toBe(produced);
    expect(distinct.size).toBe(storedIds.length);
    expect(lost).toBe(0);
    expect(extra).toBe(0);
    expect(verify.ok).toBe(true);
    expect(verify.agents.filter((a) => a.agent.startsWith("sender-")).map((a) => a.events)).toEqual(
      senders.map((s) => s.produced.length),
    );
    expect(counts(/unhandled error/)).toBe(0);
  });
});
