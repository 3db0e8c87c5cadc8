import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, runCli, startCollector, waitUntilUp } from "../support/processes.ts";

/**
 * A sidecar whose clock is an hour behind (libfaketime on its process alone: the collector keeps the
 * real time), with real processes: the fleet flags it within two heartbeats, its events keep their
 * own time and the collector's, and a query by time says which clock it used.
 */
const FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const HEARTBEAT_MS = 1000;
/** An hour behind, for the wall clock only (timers run on the monotonic clock, unfaked). */
const LATE = { LD_PRELOAD: FAKETIME, FAKETIME: "-1h", FAKETIME_DONT_FAKE_MONOTONIC: "1" };
const procs = new Processes();
const ws = tempDir("clawguard-skew-");
const state = tempDir("clawguard-skew-state-");
afterAll(async () => {
  await procs.cleanup();
  ws.cleanup();
  state.cleanup();
});

interface FleetAgent {
  agent: string;
  lastSeen: string;
  clockOffset?: { offsetMs: number; method: string; skewed: boolean };
}

describe.skipIf(!existsSync(FAKETIME))("clock skew (needs Debian's faketime)", () => {
  it("a sidecar an hour behind is flagged within two heartbeats; its events are found by the collector's clock", {
    timeout: 90_000,
  }, async () => {
    mkdirSync(join(ws.path, ".clawguard"));
    const { url: collectorUrl, read, tokens } = await startCollector(procs, ws.path, ["late"]);
    writeFileSync(
      join(ws.path, "clawguard.yaml"),
      `agent: late\nheartbeat: { intervalMs: ${HEARTBEAT_MS} }\n`,
    );
    const port = await freePort();
    const sidecar = procs.cli(
      "sidecar",
      ["sidecar", "--config", join(ws.path, "clawguard.yaml")],
      {
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_STATE_DIR: state.path,
        CLAWGUARD_INGEST_TOKEN: tokens.late as string,
        CLAWGUARD_COLLECTOR_URL: collectorUrl,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
        ...LATE,
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${port}/healthz`, sidecar);
    const env = { CLAWGUARD_COLLECTOR_URL: collectorUrl, CLAWGUARD_READ_TOKEN: read };
    const fleet = async () => {
      const run = await runCli(["fleet", "--json"], env, ws.path);
      return (JSON.parse(run.stdout || "{}") as { agents?: FleetAgent[] }).agents?.find(
        (a) => a.agent === "late",
      );
    };
    // From the first heartbeat seen, the flag must come within two intervals (plus a CLI run's time).
    let first: number | undefined;
    let flagged: FleetAgent | undefined;
    const deadline = Date.now() + 30_000;
    while (!flagged && Date.now() < deadline) {
      const agent = await fleet();
      if (agent && first === undefined) first = Date.now();
      if (agent?.clockOffset?.skewed) flagged = agent;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(flagged?.clockOffset?.offsetMs).toBeGreaterThan(-3_600_000 - 5_000);
    expect(flagged?.clockOffset?.offsetMs).toBeLessThan(-3_600_000 + 5_000);
    const flaggedAfter = Date.now() - (first as number);
    console.log(
      `flagged ${flaggedAfter} ms after the agent's first heartbeat was seen: ${JSON.stringify(flagged?.clockOffset)}`,
    );
    expect(flaggedAfter).toBeLessThan(2 * HEARTBEAT_MS + 3_000);
    const text = await runCli(["fleet"], env, ws.path);
    expect(text.stdout).toMatch(/^late .*CLOCK -3600\.\d s/m);

    // A command run in the agent's container, whose clock is the same hour behind.
    const exec = await runCli(
      ["exec", "--", "echo", "late"],
      { CLAWGUARD_WORKSPACE: ws.path, ...LATE },
      ws.path,
    );
    expect(exec.code, exec.output).toBe(0);
    // Its events: in the last 10 minutes by the collector's clock, not by the agent's own.
    const since = new Date(Date.now() - 10 * 60_000).toISOString();
    const list = async (clock: string) =>
      (
        await runCli(
          ["audit", "list", "--agent", "late", "--since", since, "--clock", clock, "--json"],
          env,
          ws.path,
        )
      ).stdout
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { time: string });
    await expect.poll(async () => (await list("collector")).length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await list("agent")).toEqual([]);
    const [event] = await list("collector");
    const agentTime = Date.parse(event?.time as string);
    expect(Date.now() - agentTime).toBeGreaterThan(3_500_000); // the agent's own (late) time, kept
  });
});
