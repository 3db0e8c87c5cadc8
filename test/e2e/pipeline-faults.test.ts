import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { workspacePaths } from "@clawguard/sidecar/paths";
import { execGuardConfig } from "@clawguard/sidecar/sources/exec-guard/config";
import { createExecGuard, SpillStore } from "@clawguard/sidecar/sources/exec-guard/index";
import { dropInInbox } from "@clawguard/sidecar/sources/inbox/drop";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Managed, Processes, runCli, waitUntilUp } from "../support/processes.ts";

/**
 * The whole pipeline as real processes on real PostgreSQL: 10 000 execs (the agent-side exec guard,
 * each event left in the inbox as `clawguard exec` leaves it) while the collector is kill -9'd and
 * restarted, and the sidecar kill -9'd once, with `clawguard exec` runs landing in its inbox while
 * it is down. Every acknowledged event must be stored exactly once
 * and the chain must verify.
 */

const EXECS = Number(process.env.CLAWGUARD_E2E_EXECS ?? 10_000);
const CONCURRENCY = 8;
const OFFLINE_CLI_RUNS = 10;

const pgUp = await postgresAvailable();

describe.skipIf(!pgUp)("pipeline under faults (real processes, PostgreSQL)", () => {
  const procs = new Processes();
  const ws = tempDir("clawguard-e2e-");
  const state = tempDir("clawguard-e2e-state-");
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let collectorEnv: Record<string, string>;
  let sidecarEnv: Record<string, string>;
  let collectorUrl: string;
  let sidecarUrl: string;
  const readToken = randomBytes(16).toString("hex");

  beforeAll(async () => {
    db = await createTestDatabase();
    mkdirSync(join(ws.path, ".clawguard"));
    const ingestToken = randomBytes(16).toString("hex");
    const tokens = join(ws.path, "sidecar-tokens");
    writeFileSync(tokens, `main ${ingestToken}\n`, { mode: 0o600 });
    const [cport, sport] = [await freePort(), await freePort()];
    collectorUrl = `http://127.0.0.1:${cport}`;
    sidecarUrl = `http://127.0.0.1:${sport}`;
    collectorEnv = {
      DATABASE_URL: db.url,
      CLAWGUARD_INGEST_TOKENS_FILE: tokens,
      CLAWGUARD_READ_TOKEN: readToken,
      CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${cport}`,
      CLAWGUARD_LOG_LEVEL: "warn",
    };
    sidecarEnv = {
      CLAWGUARD_WORKSPACE: ws.path,
      CLAWGUARD_AGENT: "main",
      CLAWGUARD_INGEST_TOKEN: ingestToken,
      CLAWGUARD_STATE_DIR: state.path,
      CLAWGUARD_COLLECTOR_URL: collectorUrl,
      CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sport}`,
      CLAWGUARD_LOG_LEVEL: "warn",
    };
  });

  afterAll(async () => {
    await procs.cleanup();
    await db?.drop();
    ws.cleanup();
    state.cleanup();
  });

  async function startCollector(): Promise<Managed> {
    const p = procs.cli("collector", ["collector"], collectorEnv, ws.path);
    await waitUntilUp(`${collectorUrl}/readyz`, p);
    return p;
  }
  async function startSidecar(): Promise<Managed> {
    const p = procs.cli("sidecar", ["sidecar"], sidecarEnv, ws.path);
    await waitUntilUp(`${sidecarUrl}/healthz`, p);
    return p;
  }

  it(`stores ${EXECS} exec events exactly once through kill -9 of collector and sidecar`, {
    timeout: 600_000,
  }, async () => {
    let collector = await startCollector();
    let sidecar = await startSidecar();
    const paths = workspacePaths(ws.path, "main");
    const guard = createExecGuard({
      source: { agent: "main", role: "agent", host: "e2e" },
      spill: new SpillStore(paths.spill),
      config: execGuardConfig.parse({}),
      readCommand: "clawguard read",
    });

    const acked = new Set<string>();
    let next = 0;
    // What `clawguard exec` does in the agent's container, in this process: run the command, then
    // leave its event in the inbox (durable once written), whether or not the sidecar is up.
    async function worker(): Promise<void> {
      for (let i = next++; i < EXECS; i = next++) {
        const result = await guard.run({
          argv: ["echo", `run-${i}`],
          session: `s${i % 20}`,
          cwd: ws.path,
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        });
        expect(result.exitCode).toBe(0);
        expect(result.text.toString()).toBe(`run-${i}\n`);
        dropInInbox(paths.inbox, result.event);
        acked.add(result.event.id);
      }
    }

    async function until(count: number): Promise<void> {
      while (acked.size < count) await new Promise((r) => setTimeout(r, 20));
    }
    async function faults(): Promise<void> {
      await until(EXECS * 0.2);
      expect(await collector.kill("SIGKILL")).toBe("SIGKILL");
      await until(EXECS * 0.4);
      // While the collector is down the events wait in the spool.
      const held = (await (await fetch(`${sidecarUrl}/readyz`)).json()) as { spool: { backlog: number } };
      expect(held.spool.backlog).toBeGreaterThan(0);
      collector = await startCollector();
      await until(EXECS * 0.6);
      expect(await sidecar.kill("SIGKILL")).toBe("SIGKILL");
      // The agent keeps working while its sidecar is down: `clawguard exec` leaves events in the inbox.
      for (let i = 0; i < OFFLINE_CLI_RUNS; i++) {
        const run = await runCli(
          ["exec", "--session", "offline", "--", "echo", `offline-${i}`],
          { CLAWGUARD_AGENT: "main" },
          ws.path,
        );
        expect(run.code, run.output).toBe(0);
        expect(run.stdout, run.output).toBe(`offline-${i}\n`);
      }
      sidecar = await startSidecar();
    }

    await Promise.all([faults(), ...Array.from({ length: CONCURRENCY }, worker)]);
    expect(acked.size).toBe(EXECS);

    // Wait for the sidecar to drain its inbox and ship everything it holds.
    // Idle means idle for a while: the inbox empty, everything acknowledged, and the head unmoved
    // over a second of polls (a busy machine can leave a drain between two looks).
    const deadline = Date.now() + 120_000;
    let ready: { spool: { head: number; acked: number; backlog: number } } | undefined;
    let quietSince: { head: number; at: number } | undefined;
    while (Date.now() < deadline) {
      ready = (await (await fetch(`${sidecarUrl}/readyz`)).json()) as typeof ready;
      const inbox = readdirSync(paths.inbox).filter((n) => n.endsWith(".json")).length;
      const idle =
        ready && inbox === 0 && ready.spool.backlog === 0 && ready.spool.acked === ready.spool.head;
      if (!idle || !ready || quietSince?.head !== ready.spool.head) {
        quietSince = idle && ready ? { head: ready.spool.head, at: Date.now() } : undefined;
      } else if (Date.now() - quietSince.at >= 1000) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready?.spool.backlog).toBe(0);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const rows = await client.query<{ id: string; seq: string; type: string; session: string | null }>(
        "SELECT id, seq, type, session FROM audit_events WHERE agent = 'main' ORDER BY seq",
      );
      const ids = new Set(rows.rows.map((r) => r.id));
      // Exactly once: one row per id, seq 1..N with no gap, and it matches the sidecar's head.
      expect(ids.size).toBe(rows.rows.length);
      expect(rows.rows.map((r) => Number(r.seq))).toEqual(rows.rows.map((_, i) => i + 1));
      expect(rows.rows.length).toBe(ready?.spool.head);
      const missing = [...acked].filter((id) => !ids.has(id));
      expect(missing).toEqual([]);
      const offline = rows.rows.filter((r) => r.session === "offline" && r.type === "exec.completed");
      expect(offline).toHaveLength(OFFLINE_CLI_RUNS);
      const integrity = await client.query("SELECT count(*)::int AS n FROM audit_events WHERE type = $1", [
        "audit.integrity",
      ]);
      expect(integrity.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }

    const verify = await runCli(
      ["audit", "verify", "--json"],
      { CLAWGUARD_COLLECTOR_URL: collectorUrl, CLAWGUARD_READ_TOKEN: readToken },
      ws.path,
    );
    expect(verify.code, verify.output).toBe(0);
    const report = JSON.parse(verify.stdout) as { ok: boolean; agents: { agent: string; ok: boolean }[] };
    expect(report.ok).toBe(true);
    expect(report.agents.find((a) => a.agent === "main")?.ok).toBe(true);
    console.log(`[e2e] ${acked.size} execs stored exactly once`);
    await sidecar.kill("SIGTERM");
    await collector.kill("SIGTERM");
  });
});
