import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, runCli } from "../support/processes.ts";

/** The README's quick start as a user runs it: `clawguard up` on the embedded store, then the CLI. */

const procs = new Processes();
const ws = tempDir("clawguard-quickstart-");
// The sidecar's state dir (tokens, the embedded store): outside the workspace, removed after.
const state = tempDir("clawguard-quickstart-state-");
afterAll(async () => {
  await procs.cleanup();
  ws.cleanup();
  state.cleanup();
});

/** Every file under `dir`, as the agent would find it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

/** What the agent, reading the whole workspace, finds of `up`'s tokens and store: nothing. */
function secretsInWorkspace(): string[] {
  const tokens = ["ingest.token", "read.token"].map((n) =>
    readFileSync(join(state.path, "up", n), "utf8").trim(),
  );
  expect(tokens.every((t) => /^[0-9a-f]{64}$/.test(t))).toBe(true);
  const found = filesUnder(ws.path).filter((file) => {
    const text = readFileSync(file, "latin1");
    return tokens.some((t) => text.includes(t)) || /\.clawguard\/(local|collector)\//.test(file);
  });
  return found.map((f) => f.slice(ws.path.length + 1));
}

function startUp(cport: number, sport: number) {
  return procs.cli(
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
    { CLAWGUARD_STATE_DIR: state.path },
    ws.path,
  );
}

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
    timeout: 180_000,
  }, async () => {
    const [cport, sport] = [await freePort(), await freePort()];
    const up = startUp(cport, sport);
    await waitFor(
      "clawguard is up",
      async () => (up.stdout().includes("clawguard is up") ? true : undefined),
      60_000, // PGlite's first start takes 10-40 s on a loaded 2-core machine
    );
    expect(up.stdout()).toContain("embedded PGlite");
    // The memory hint names a file the default globs watch (used below).
    expect(up.stdout()).toMatch(/echo "a fact" >> MEMORY\.md; .*memory history MEMORY\.md/);
    const env = { CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${cport}`, CLAWGUARD_STATE_DIR: state.path };
    expect(secretsInWorkspace()).toEqual([]);

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
    expect(secretsInWorkspace()).toEqual([]);
    expect(await up.kill("SIGTERM")).toBe(0);

    // A workspace from before: tokens and the embedded store where `up` kept them then. The next
    // `up` moves them to the state dir, saying so, and the trail and the read token carry on.
    const stored = Number(/^ok\s+main\s+(\d+) events/m.exec(verify.stdout)?.[1]);
    mkdirSync(join(ws.path, ".clawguard"), { recursive: true });
    renameSync(join(state.path, "up"), join(ws.path, ".clawguard", "local"));
    renameSync(join(state.path, "collector"), join(ws.path, ".clawguard", "collector"));
    // The workspace's clawguard.yaml is read, as `clawguard sidecar` would read it, and named.
    writeFileSync(
      join(ws.path, "clawguard.yaml"),
      `probe:\n  probes: [{ name: collector-port, kind: tcp, host: 127.0.0.1, port: ${cport} }]\n`,
    );
    const again = startUp(cport, sport);
    await waitFor(
      "clawguard is up again",
      async () => (again.stdout().includes("clawguard is up") ? true : undefined),
      60_000,
    );
    expect(again.output()).toMatch(
      /clawguard up: moved .*\.clawguard\/local\/read\.token out of the workspace/,
    );
    expect(again.output()).toMatch(
      /clawguard up: moved the embedded store .*\.clawguard\/collector out of the workspace/,
    );
    expect(again.stdout()).toContain(`config     ${join(ws.path, "clawguard.yaml")}`);
    const ready = (await (await fetch(`http://127.0.0.1:${sport}/readyz`)).json()) as { probes?: unknown };
    expect(JSON.stringify(ready)).toContain("collector-port");
    expect(existsSync(join(ws.path, ".clawguard", "local"))).toBe(false);
    expect(existsSync(join(ws.path, ".clawguard", "collector"))).toBe(false);
    expect(secretsInWorkspace()).toEqual([]);
    const after = await runCli(["audit", "verify"], env, ws.path);
    expect(after.code, after.output).toBe(0);
    expect(Number(/^ok\s+main\s+(\d+) events/m.exec(after.stdout)?.[1])).toBeGreaterThanOrEqual(stored);
    expect(await again.kill("SIGTERM")).toBe(0);
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
