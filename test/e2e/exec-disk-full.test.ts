import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import { tempDir } from "@clawguard/shared/testing";
import { AckRecord } from "@clawguard/sidecar/sinks/spool/ack-record";
import { afterAll, describe, expect, it } from "vitest";
import {
  freePort,
  type Managed,
  Processes,
  type RunningCollector,
  runCli,
  startCollector,
  waitUntilUp,
} from "../support/processes.ts";

/**
 * The fault drill of "nothing lost", on a real full disk: the workspace and the sidecar's state dir
 * on one 20 MiB tmpfs, the collector down, commands (a third with 3 MiB of output) run through the
 * real `clawguard exec` until the disk is full and commands are refused. Every command either ran
 * and has its exec.started (and, unless it said it could not, its exec.completed) in the audit
 * trail once the disk has room, or was refused with 126 and a clear message and did not run.
 * Meanwhile the sidecar stays up, restarts on the full disk, says disk_low, and records the
 * collector's acknowledgements without new space (nothing is sent twice).
 */

const CI = process.env.CI === "true";
const MAX_COMMANDS = 90;
const WANT_REFUSED = 4;
const base = tempDir("clawguard-diskfull-");
const mnt = join(base.path, "mnt");
mkdirSync(mnt);

function mountTmpfs(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "needs root to mount a 20 MiB tmpfs";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", mnt], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs refused: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}
const skipReason = mountTmpfs();

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

afterAll(() => {
  if (!skipReason) execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
  base.cleanup();
});

describe("exec on a full disk", () => {
  it.runIf(CI && skipReason !== undefined)("must run under CI (mounting a tmpfs)", () => {
    expect.fail(`the full-disk drill cannot run under CI: ${skipReason}`);
  });
});

describe.skipIf(skipReason !== undefined)(
  `exec on a full disk (20 MiB tmpfs)${skipReason ? ` [skipped: ${skipReason}]` : ""}`,
  () => {
    const procs = new Processes();
    const ws = join(mnt, "ws");
    const state = join(mnt, "state");
    const markers = join(base.path, "markers"); // on the real disk: proof a command ran
    const collectorDir = join(base.path, "collector"); // the collector's store on the real disk
    let sidecar: Managed | undefined;
    let collector: RunningCollector | undefined;
    let sidecarUrl = "";

    afterAll(async () => {
      await procs.cleanup();
    });

    async function startSidecar(collectorUrl: string, token: string): Promise<Managed> {
      const port = await freePort();
      sidecarUrl = `http://127.0.0.1:${port}`;
      const p = procs.cli(
        "sidecar",
        ["sidecar"],
        {
          CLAWGUARD_WORKSPACE: ws,
          CLAWGUARD_AGENT: "main",
          CLAWGUARD_STATE_DIR: state,
          CLAWGUARD_INGEST_TOKEN: token,
          CLAWGUARD_COLLECTOR_URL: collectorUrl,
          CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
          CLAWGUARD_LOG_LEVEL: "warn",
        },
        base.path,
      );
      await waitUntilUp(`${sidecarUrl}/healthz`, p);
      return p;
    }

    it("audits every command that ran, refuses the rest with 126, and the sidecar stays up", async () => {
      mkdirSync(ws);
      mkdirSync(markers);
      const down = `http://127.0.0.1:${await freePort()}`; // nothing listens: the collector is down
      sidecar = await startSidecar(down, "t".repeat(32));
      const env = { CLAWGUARD_WORKSPACE: ws, CLAWGUARD_AGENT: "main", CLAWGUARD_EXEC_CACHE: "off" };

      const results: { i: number; code: number | NodeJS.Signals; output: string; stdout: string }[] = [];
      let refused = 0;
      // One at a time: a command's output goes to a file on this disk, and another's filling it
      // meanwhile would cut it (see README, exec guard).
      for (let i = 0; i < MAX_COMMANDS && refused < WANT_REFUSED; i++) {
        const script =
          i % 3 === 0
            ? `echo ran > ${markers}/${i}; head -c 2300000 /dev/urandom | base64; echo done-${i}`
            : `echo ran > ${markers}/${i}; echo out-${i}`;
        const r = await runCli(["exec", "--session", `d${i}`, "--", "sh", "-c", script], env, base.path);
        results.push({ i, ...r });
        if (r.code === 126) refused++;
      }
      const ran = new Set(readdirSync(markers).map(Number));
      // The disk filled: commands were refused, and refused ones did not run.
      expect(refused, results.map((r) => `${r.i}: ${r.code}`).join(", ")).toBeGreaterThanOrEqual(
        WANT_REFUSED,
      );
      for (const r of results) {
        if (r.code === 126) {
          expect(r.output).toMatch(
            /clawguard: refused to run sh -c .*: its audit event cannot be recorded \(ENOSPC: (no space left on device|\d+ KiB free in )/,
          );
          expect(ran.has(r.i), `command ${r.i} was refused but ran`).toBe(false);
        } else {
          expect(ran.has(r.i), `command ${r.i} exited ${r.code} but did not run: ${r.output}`).toBe(true);
          // Never withheld: a small output is shown whole, a big one as a preview (or what fit).
          if (r.i % 3 !== 0) expect(r.stdout).toContain(`out-${r.i}`);
        }
      }
      const spillCut = results.filter((r) => /no room for its meta file/.test(r.output)).length;
      const cut = results.filter((r) => /outcome of this command could not be recorded/.test(r.output));

      // The sidecar is up, ready, and says why it is degraded.
      const full = await readyz(sidecarUrl);
      expect(full.status).toBe(200);
      expect((full.body.degraded as string[]).join("\n")).toMatch(
        /^disk_low: workspace .* has [\d.]+ MiB free/m,
      );

      // The collector comes back; the sidecar restarts (kill -9) on the still-full disk.
      mkdirSync(collectorDir);
      collector = await startCollector(procs, collectorDir, ["main"]);
      await sidecar.kill("SIGKILL");
      expect(freeBytes(ws)).toBeLessThan(256 * 1024);
      sidecar = await startSidecar(collector.url, collector.tokens.main as string);
      expect(((await readyz(sidecarUrl)).body.degraded as string[]).join("\n")).toMatch(/disk_low/);
      // What the spool holds is acknowledged with the disk still full, and not sent again.
      const acked = await waitFor("the spool acknowledged on a full disk", async () => {
        const { body } = await readyz(sidecarUrl);
        const spool = body.spool as { backlog: number; head: number; acked: number };
        return spool.head > 0 && spool.backlog === 0 ? spool : undefined;
      });
      // Recorded durably (the next start does not send it again), though the disk is full.
      expect(AckRecord.read(join(state, "spool"))?.seq).toBe(acked.acked);
      expect(freeBytes(ws)).toBeLessThan(256 * 1024);

      // Room again: the spills go (as the retention would), the inbox drains, everything ships.
      rmSync(join(ws, ".clawguard", "spill"), { recursive: true, force: true });
      const inbox = join(ws, ".clawguard", "agents", "main", "inbox");
      await waitFor("the inbox drained", async () =>
        readdirSync(inbox).filter((n) => n.endsWith(".json")).length === 0 ? true : undefined,
      );
      let last: unknown;
      await waitFor("everything shipped", async () => {
        const { body } = await readyz(sidecarUrl);
        last = body;
        const spool = body.spool as { backlog: number; head: number };
        return spool.backlog === 0 ? true : undefined;
      }).catch((err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}\n${sidecar?.output()}`);
      });
      const events: AuditEvent[] = [];
      let cursor: string | null = null;
      do {
        const res = await fetch(
          `${collector.url}/v1/audit?agent=main&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
          { headers: { authorization: `Bearer ${collector.read}` } },
        );
        const page = (await res.json()) as { events: AuditEvent[]; next_cursor: string | null };
        events.push(...page.events);
        cursor = page.next_cursor;
      } while (cursor);
      const ofType = (type: string) =>
        new Map(events.filter((e) => e.type === type).map((e) => [e.session as string, e]));
      const started = ofType("exec.started");
      const completed = ofType("exec.completed");
      // Exactly once each.
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      // Nothing ran unaudited: every command that ran has its start; every outcome names its run.
      for (const i of ran) {
        const start = started.get(`d${i}`);
        expect(start, `command ${i} ran without an exec.started`).toBeDefined();
        const done = completed.get(`d${i}`);
        // Its outcome had room set aside before it ran: not even the disk filling meanwhile loses it.
        expect(done, `command ${i}: no exec.completed`).toBeDefined();
        expect(done?.attrs.run_id).toBe(start?.attrs.run_id);
      }
      expect(started.size).toBe(ran.size);
      expect(completed.size).toBe(ran.size);
      expect(cut).toEqual([]);
      console.info(
        `disk-full drill: ${results.length} commands, ${ran.size} ran (${started.size} exec.started, ${completed.size} exec.completed, ${cut.length} outcome not recorded, ${spillCut} spill cut short), ${refused} refused with 126, ${events.length} events at the collector`,
      );
    }, 300_000);
  },
);
