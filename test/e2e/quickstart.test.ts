import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, runCli } from "../support/processes.ts";

/** The README's quick start as a user runs it: `clawguard up` on the embedded store, then the CLI. */

const procs = new Processes();
const ws = tempDir("clawguard-quickstart-");
afterAll(async () => {
  await procs.cleanup();
  ws.cleanup();
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("quick start: clawguard up on the embedded store", () => {
  it("runs collector + sidecar, spills a big output, pages it, and audits it", {
    timeout: 120_000,
  }, async () => {
    const [cport, sport] = [await freePort(), await freePort()];
    const up = procs.cli(
      "up",
      [
        "up",
        "--workspace",
        ws.path,
        "--collector-listen",
        `127.0.0.1:${cport}`,
        "--sidecar-listen",
        `127.0.0.1:${sport}`,
      ],
      {},
      ws.path,
    );
    await waitFor("clawguard is up", async () =>
      up.stdout().includes("clawguard is up") ? true : undefined,
    );
    expect(up.stdout()).toContain("embedded PGlite");
    const env = { CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${cport}` };

    // Over the limit: spilled and previewed, exit code passed through.
    const exec = await runCli(["exec", "--session", "qs", "--", "seq", "1", "200000"], env, ws.path);
    expect(exec.code, exec.output).toBe(0);
    const expected = Buffer.from(`${Array.from({ length: 200_000 }, (_, i) => i + 1).join("\n")}\n`);
    const sha = createHash("sha256").update(expected).digest("hex");
    expect(exec.stdout.length).toBeLessThan(16 * 1024);
    expect(exec.stdout).toContain(`${expected.length.toLocaleString("en-US")} bytes in 200,000 lines`);
    const match = /spill ([0-9A-Z]{26}) {2}sha256 ([0-9a-f]{64})/.exec(exec.stdout);
    expect(match?.[2]).toBe(sha);
    const id = match?.[1] as string;
    expect(readFileSync(join(ws.path, ".clawguard", "spill", `${id}.out`)).equals(expected)).toBe(true);

    const page = await runCli(["read", id, "--lines", "1000:1002"], env, ws.path);
    expect(page.code, page.output).toBe(0);
    expect(page.stdout.startsWith("1000\n1001\n1002\n")).toBe(true);

    // Under the limit: passed through unchanged; a failing command keeps its exit code.
    const small = await runCli(
      ["exec", "--session", "qs", "--", "sh", "-c", "echo hi; exit 3"],
      env,
      ws.path,
    );
    expect(small).toMatchObject({ code: 3, stdout: "hi\n" });

    // The events reach the collector through the sidecar and the chain verifies.
    // Each exec is two events: its intent (exec.started, before it runs) and its outcome.
    const listed = await waitFor("four exec events in the audit trail", async () => {
      const list = await runCli(["audit", "list", "--session", "qs", "--json"], env, ws.path);
      expect(list.code, list.output).toBe(0);
      const events = list.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; attrs: Record<string, unknown> });
      return events.length >= 4 ? events : undefined;
    });
    expect(listed.map((e) => e.type)).toEqual([
      "exec.started",
      "exec.completed",
      "exec.started",
      "exec.completed",
    ]);
    expect(listed[1]?.attrs).toMatchObject({ exit_code: 0, bytes: expected.length, sha256: sha });
    expect(listed[1]?.attrs.run_id).toBe(listed[0]?.attrs.run_id);
    expect(listed[3]?.attrs).toMatchObject({ exit_code: 3 });
    expect(JSON.stringify(listed)).not.toContain("199999");

    // Memory: every version reaches the collector with its content; a restore puts one back.
    writeFileSync(join(ws.path, "MEMORY.md"), "first fact\n");
    const first = createHash("sha256").update("first fact\n").digest("hex");
    await waitFor("the first MEMORY.md version stored", async () => {
      const h = await runCli(["memory", "history", "MEMORY.md", "--json"], env, ws.path);
      return h.stdout.includes(first) && h.stdout.includes('"blob":true') ? true : undefined;
    });
    writeFileSync(join(ws.path, "MEMORY.md"), "first fact\nsecond fact\n");
    const versions = await waitFor("two MEMORY.md versions", async () => {
      const h = await runCli(["memory", "history", "MEMORY.md", "--json"], env, ws.path);
      const lines = h.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { sha256: string; blob: boolean });
      return lines.length >= 2 && lines.every((v) => v.blob) ? lines : undefined;
    });
    expect(versions[1]?.sha256).toBe(first);
    const restored = await runCli(
      ["memory", "restore", "MEMORY.md", "--at", first.slice(0, 12)],
      env,
      ws.path,
    );
    expect(restored.code, restored.output).toBe(0);
    expect(readFileSync(join(ws.path, "MEMORY.md"), "utf8")).toBe("first fact\n");
    expect(restored.stdout).toMatch(/the previous content is in memory\/.trash\//);

    const verify = await runCli(["audit", "verify"], env, ws.path);
    expect(verify.code, verify.output).toBe(0);
    expect(verify.stdout).toMatch(/^ok\s+main\s+\d+ events/m);

    expect(await up.kill("SIGTERM")).toBe(0);
  });
});

describe("bad configuration: refuse to start and list every problem", () => {
  it("sidecar", async () => {
    const run = await runCli(
      ["sidecar"],
      {
        CLAWGUARD_EXEC_MAX_BYTES: "lots",
        CLAWGUARD_SIDECAR_LISTEN: "nowhere",
        CLAWGUARD_SPOOL_FSYNC: "sometimes",
        CLAWGUARD_INGEST_TOKEN: "x".repeat(32),
      },
      ws.path,
    );
    expect(run.code).toBe(78);
    expect(run.output).toContain("exec.maxBytes");
    expect(run.output).toContain("api.listen");
    expect(run.output).toContain("spool.fsync");
    expect(run.output).toContain("3 problem");
  });

  it("collector: config file and tokens", async () => {
    const file = join(ws.path, "collector.yaml");
    writeFileSync(file, "listen: 'not-a-listen'\ningest:\n  maxBatchEvents: -1\nsurprise: true\n");
    const run = await runCli(["collector", "--config", file], {}, ws.path);
    expect(run.code).toBe(78);
    for (const field of ["listen", "ingest.maxBatchEvents", "surprise"]) expect(run.output).toContain(field);
    const noTokens = await runCli(["collector"], {}, ws.path);
    expect(noTokens.code).toBe(78);
    expect(noTokens.output).toContain("no sidecar tokens");
    expect(noTokens.output).toContain("no read token");
    const check = await runCli(["collector", "--check"], {}, ws.path);
    expect(check.code).toBe(78);
    expect(check.output).toContain("no sidecar tokens");
  });
});
