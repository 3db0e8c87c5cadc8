import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ChainHead, EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { loadCollectorConfig } from "../../config.ts";
import { startCollector } from "../../main.ts";

/**
 * The collector on the embedded store with its data directory on a full disk (a 48 MiB tmpfs):
 * ingest answers 503 with Retry-After (the sidecar keeps the batch and retries), never 500, and
 * /readyz names the reason; once space is freed the same batch is stored, each event once.
 */

const base = tempDir("clawguard-collector-full-");
const mnt = join(base.path, "mnt");
mkdirSync(mnt);

function mountTmpfs(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", mnt], { stdio: "pipe" });
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

function chain(count: number, from: ChainHead, size: number): AuditEvent[] {
  let head = from;
  return Array.from({ length: count }, (_, i) => {
    const draft = draftEvent({ source: { agent: "full", role: "agent", host: "h" }, type: "exec.completed" });
    // Incompressible-ish text so every event needs new pages.
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

describe.skipIf(skipReason !== undefined)(
  `collector on a full disk (embedded store)${skipReason ? ` [skipped: ${skipReason}]` : ""}`,
  () => {
    it("answers 503 with Retry-After and /readyz names disk_full; once freed, every event is stored once", async () => {
      const dir = join(mnt, "collector");
      mkdirSync(dir);
      const tokens = join(base.path, "tokens");
      writeFileSync(tokens, `full ${INGEST}\n`);
      const env = {
        CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
        CLAWGUARD_COLLECTOR_DATA_DIR: join(dir, "data"),
        CLAWGUARD_INGEST_TOKENS_FILE: tokens,
        CLAWGUARD_READ_TOKEN: READ,
      };
      const collector = await startCollector(
        loadCollectorConfig(undefined, env, base.path),
        env,
        silentLogger,
      );
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
      try {
        const first = chain(5, EMPTY_HEAD, 1024);
        expect((await post(first)).status).toBe(200);
        const last = first.at(-1) as AuditEvent;
        const batches = [0, 1, 2].map(() => [] as AuditEvent[]);
        let head: ChainHead = { seq: last.seq, hash: last.hash };
        for (const batch of batches) {
          batch.push(...chain(20, head, 8 * 1024));
          const end = batch.at(-1) as AuditEvent;
          head = { seq: end.seq, hash: end.hash };
        }
        const filler = fill(mnt);
        expect(filler.length).toBeGreaterThan(0);
        const refused = await post(batches[0] as AuditEvent[]);
        const body = (await refused.json()) as { error: { code: string; message: string } };
        expect(refused.status, JSON.stringify(body)).toBe(503);
        expect(refused.headers.get("retry-after")).toBe("1");
        expect(body.error.code).toBe("store.unavailable");
        expect(body.error.message).toMatch(/cannot write \(disk_full\).*No space left on device/);
        const ready = await readyz();
        expect(ready.status).toBe(503);
        expect(ready.body.failing).toEqual(["store"]);
        expect(ready.body.degraded).toEqual([
          expect.stringMatching(/^store_disk_full: pglite cannot write since /),
        ]);
        // Still full: the next batches are refused the same way (no 500, nothing half-stored).
        expect((await post(batches[0] as AuditEvent[])).status).toBe(503);

        for (const f of filler) rmSync(f);
        for (const batch of batches) {
          const res = await post(batch);
          expect(res.status).toBe(200);
          expect(await res.json()).toMatchObject({ accepted: 20, duplicate: 0, rejected: 0 });
        }
        // The sidecar's retry of a batch already stored: duplicates, not new rows.
        expect(await (await post(batches[0] as AuditEvent[])).json()).toMatchObject({
          accepted: 0,
          duplicate: 20,
        });
        expect(await readyz()).toMatchObject({ status: 200, body: { failing: [], degraded: [] } });
        const { rows } = await collector.store.db.query<{ n: number; d: number }>(
          "SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM audit_events WHERE agent = 'full'",
        );
        expect(rows[0]).toEqual({ n: 65, d: 65 });
      } finally {
        await collector.stop();
        expect(readdirSync(mnt).filter((f) => f.startsWith("fill-"))).toEqual([]);
      }
    }, 60_000);
  },
);
