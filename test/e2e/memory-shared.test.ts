import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import {
  freePort,
  type Managed,
  Processes,
  runCli,
  startCollector,
  waitUntilUp,
} from "../support/processes.ts";

/**
 * Two agents' sidecars on one shared workspace volume (the seed's sub-agents): two writers of the
 * same memory file leave both versions in the collector's history, each with its content.
 */

const procs = new Processes();
const ws = tempDir("clawguard-memory-shared-");
afterAll(async () => {
  await procs.cleanup();
  ws.cleanup();
});

interface Version {
  agent: string;
  sha256: string;
  blob: boolean;
}

describe("memory history on a shared workspace", () => {
  it("keeps both writers' versions, content included", { timeout: 90_000 }, async () => {
    mkdirSync(join(ws.path, ".clawguard"));
    mkdirSync(join(ws.path, "memory"));
    const { url: collectorUrl, read, tokens } = await startCollector(procs, ws.path, ["main", "sub1"]);
    const sidecars = new Map<string, Managed>();
    const startSidecar = async (agent: "main" | "sub1") => {
      const port = await freePort();
      const sidecar = procs.cli(
        agent,
        ["sidecar"],
        {
          CLAWGUARD_AGENT: agent,
          CLAWGUARD_WORKSPACE: ws.path,
          CLAWGUARD_INGEST_TOKEN: tokens[agent] as string,
          CLAWGUARD_COLLECTOR_URL: collectorUrl,
          CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
        },
        ws.path,
      );
      await waitUntilUp(`http://127.0.0.1:${port}/healthz`, sidecar);
      // Versions written before the watcher has caught up would be seen only as the latest one.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as {
          memory?: { watching: boolean };
        };
        if (ready.memory?.watching) break;
        if (Date.now() > deadline) throw new Error(`${agent}: the memory watcher did not catch up`);
        await new Promise((r) => setTimeout(r, 50));
      }
      sidecars.set(agent, sidecar);
    };
    await startSidecar("main");
    await startSidecar("sub1");

    const versions = async (): Promise<Version[]> => {
      const response = await fetch(`${collectorUrl}/v1/memory/history?path=memory/shared.md`, {
        headers: { authorization: `Bearer ${read}` },
      });
      return ((await response.json()) as { versions: Version[] }).versions;
    };
    const until = async (what: string, ok: (v: Version[]) => boolean) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const v = await versions();
        if (ok(v)) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    const first = "main wrote this\n";
    const second = "sub1 rewrote it\n";
    writeFileSync(join(ws.path, "memory", "shared.md"), first);
    await until("the first version", (v) => v.some((x) => x.sha256 === sha(first) && x.blob));
    writeFileSync(join(ws.path, "memory", "shared.md"), second);
    const all = await until("both versions, stored, seen by both sidecars", (v) =>
      [first, second].every((text) =>
        ["main", "sub1"].every((agent) =>
          v.some((x) => x.sha256 === sha(text) && x.agent === agent && x.blob),
        ),
      ),
    );
    // Newest first: the second version before the first.
    const order = all.map((v) => v.sha256).filter((s, i, list) => list.indexOf(s) === i);
    expect(order).toEqual([sha(second), sha(first)]);
    const content = await fetch(`${collectorUrl}/v1/blobs/${sha(first)}`, {
      headers: { authorization: `Bearer ${read}` },
    });
    expect(await content.text()).toBe(first);

    // A restore while no sidecar runs: the content it replaces still becomes a version.
    for (const sidecar of sidecars.values()) await sidecar.kill("SIGTERM");
    const unrecorded = "written while no sidecar ran\n";
    writeFileSync(join(ws.path, "memory", "shared.md"), unrecorded);
    const env = {
      CLAWGUARD_COLLECTOR_URL: collectorUrl,
      CLAWGUARD_READ_TOKEN: read,
      CLAWGUARD_WORKSPACE: ws.path,
    };
    const restored = await runCli(
      ["memory", "restore", "memory/shared.md", "--at", sha(first)],
      env,
      ws.path,
    );
    expect(restored.code, restored.output).toBe(0);
    expect(readFileSync(join(ws.path, "memory", "shared.md"), "utf8")).toBe(first);
    await startSidecar("main");
    await until("the replaced content recorded and stored", (v) =>
      v.some((x) => x.sha256 === sha(unrecorded) && x.blob),
    );
  });
});
