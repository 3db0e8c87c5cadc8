import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { WRITE_FAILURE_HOLD_MS } from "@clawguard/collector/store/db";
import { type ChainHead, EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  type PrivatePostgres,
  privatePostgresMissing,
  startPrivatePostgres,
} from "../support/private-stores.ts";

/**
 * The collector's store on a full disk (a small tmpfs): PGlite with its dataDir there, and a
 * PostgreSQL of the drill's own whose tables live in a tablespace there. Ingest answers 503 with
 * Retry-After (the sidecar keeps the batch and retries), never 500; /readyz is not ready and names
 * the reason; once space is freed the same batches are stored, each event once.
 */

const CI = process.env.CI === "true";
const base = tempDir("clawguard-collector-full-");
const mnt = join(base.path, "mnt");
mkdirSync(mnt);

/** The postgres user's ids (the private PostgreSQL runs as it when the tests run as root). */
function postgresIds(): { uid: number; gid: number } | undefined {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

function mountTmpfs(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", mnt], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs refused: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}
const skipReason = mountTmpfs();

afterAll(() => {
  if (!skipReason) execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
  base.cleanup();
});

const INGEST = "i".repeat(40);
const READ = "r".repeat(40);
const BATCH = 20;

function chain(count: number, from: ChainHead, size: number): AuditEvent[] {
  let head = from;
  return Array.from({ length: count }, (_, i) => {
    const draft = draftEvent({ source: { agent: "full", role: "agent", host: "h" }, type: "exec.completed" });
    // Text that does not compress, so every event needs new pages.
    const out = Array.from({ length: size / 16 }, (_, k) => `${i}:${k}:${Math.random()}`.slice(0, 16)).join(
      "",
    );
    const e = sealEvent({ ...draft, attrs: { out } }, head);
    head = { seq: e.seq, hash: e.hash };
    return e;
  });
}

/** Fills the file system with files until it refuses one byte more; returns them. */
function fill(dir: string): string[] {
  const files: string[] = [];
  for (const size of [1 << 20, 1 << 14, 1 << 10]) {
    for (;;) {
      const file = join(dir, `fill-${files.length}`);
      try {
        writeFileSync(file, Buffer.alloc(size, 1));
        files.push(file);
      } catch {
        rmSync(file, { force: true });
        break;
      }
    }
  }
  return files;
}

/** A private PostgreSQL whose database keeps its tables in a tablespace on the tmpfs. */
async function postgresOnTmpfs(): Promise<{ server: PrivatePostgres; url: string }> {
  const server = await startPrivatePostgres();
  try {
    // The server's user must reach the directory: through the (root's) test directory too.
    chmodSync(base.path, 0o755);
    const space = join(mnt, "tablespace");
    mkdirSync(space, { mode: 0o700 });
    const ids = postgresIds();
    if (ids) chownSync(space, ids.uid, ids.gid);
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      await admin.query(`CREATE TABLESPACE drill_full LOCATION '${space}'`);
      await admin.query("CREATE DATABASE drill TABLESPACE drill_full");
    } finally {
      await admin.end();
    }
    return { server, url: server.url.replace(/\/postgres$/, "/drill") };
  } catch (err) {
    await server.destroy();
    throw err;
  }
}

async function drill(env: Record<string, string>): Promise<void> {
  const tokens = join(base.path, "tokens");
  writeFileSync(tokens, `full ${INGEST}\n`);
  const all = {
    CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
    CLAWGUARD_INGEST_TOKENS_FILE: tokens,
    CLAWGUARD_READ_TOKEN: READ,
    ...env,
  };
  const collector = await startCollector(loadCollectorConfig(undefined, all, base.path), all, silentLogger);
  const post = (events: AuditEvent[]) =>
    fetch(`${collector.url}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${INGEST}`, "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
  const readyz = async () => {
    const res = await fetch(`${collector.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { degraded: string[]; failing: string[] } };
  };
  let filler: string[] = [];
  try {
    const first = chain(5, EMPTY_HEAD, 1024);
    expect((await post(first)).status).toBe(200);
    const last = first.at(-1) as AuditEvent;
    const batches: AuditEvent[][] = [];
    let head: ChainHead = { seq: last.seq, hash: last.hash };
    for (let b = 0; b < 3; b++) {
      const batch = chain(BATCH, head, 8 * 1024);
      const end = batch.at(-1) as AuditEvent;
      head = { seq: end.seq, hash: end.hash };
      batches.push(batch);
    }
    filler = fill(mnt);
    expect(filler.length).toBeGreaterThan(0);
    const refused = await post(batches[0] as AuditEvent[]);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(refused.status, JSON.stringify(body)).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(body.error.code).toBe("store.unavailable");
    expect(body.error.message).toMatch(/cannot write \(disk_full\).*No space left on device/);
    // A small write that still fits (a heartbeat's) does not make it look ready.
    await collector.store.db.transaction((tx) => tx.query("SELECT 1"));
    const ready = await readyz();
    expect(ready.status).toBe(503);
    expect(ready.body.failing).toEqual(["store"]);
    expect(ready.body.degraded).toEqual([
      expect.stringMatching(new RegExp(`^store_disk_full: ${collector.store.db.kind} cannot write since `)),
    ]);
    // Still full: refused the same way again (no 500, nothing half-stored).
    expect((await post(batches[0] as AuditEvent[])).status).toBe(503);

    for (const f of filler.splice(0)) rmSync(f);
    for (const batch of batches) {
      const res = await post(batch);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ accepted: BATCH, duplicate: 0, rejected: 0 });
    }
    // The sidecar's retry of a batch already stored: duplicates, not new rows.
    expect(await (await post(batches[0] as AuditEvent[])).json()).toMatchObject({
      accepted: 0,
      duplicate: BATCH,
    });
    // Ready again once writes succeed and none failed for WRITE_FAILURE_HOLD_MS.
    const deadline = Date.now() + WRITE_FAILURE_HOLD_MS + 3000;
    while ((await readyz()).status !== 200 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(await readyz()).toMatchObject({ status: 200, body: { failing: [], degraded: [] } });
    const { rows } = await collector.store.db.query<{ n: number; d: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM audit_events WHERE agent = 'full'",
    );
    expect(rows[0]).toEqual({ n: 5 + 3 * BATCH, d: 5 + 3 * BATCH });
  } finally {
    for (const f of filler) rmSync(f, { force: true });
    await collector.stop();
  }
}

describe("collector on a full disk", () => {
  it.runIf(CI && skipReason !== undefined)("must run under CI (mounting a tmpfs)", () => {
    expect.fail(`the full-disk drill cannot run under CI: ${skipReason}`);
  });
});

describe.skipIf(skipReason !== undefined)(
  `collector on a full disk (48 MiB tmpfs)${skipReason ? ` [skipped: ${skipReason}]` : ""}`,
  () => {
    it("embedded store (PGlite dataDir on it): 503 with Retry-After, /readyz names disk_full, then every event once", async () => {
      const dir = join(mnt, "collector");
      mkdirSync(dir);
      try {
        await drill({ CLAWGUARD_COLLECTOR_DATA_DIR: join(dir, "data") });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(readdirSync(mnt)).toEqual([]);
    }, 60_000);

    const pgMissing = privatePostgresMissing();
    it.skipIf(pgMissing !== undefined && !CI)(
      `PostgreSQL (its tables in a tablespace on it): the same${pgMissing ? ` [skipped: ${pgMissing}]` : ""}`,
      async () => {
        const { server, url } = await postgresOnTmpfs();
        try {
          await drill({ DATABASE_URL: url, CLAWGUARD_COLLECTOR_DATA_DIR: join(base.path, "unused") });
        } finally {
          await server.destroy();
        }
      },
      60_000,
    );
  },
);
