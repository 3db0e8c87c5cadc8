import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, runCli, waitUntilUp } from "../support/processes.ts";

/**
 * The agent's container is untrusted: it reads and writes the whole workspace and reaches the
 * sidecar on 127.0.0.1. A real sidecar process; the test plays the agent.
 */

const procs = new Processes();
const ws = tempDir("clawguard-hostile-");
const state = tempDir("clawguard-hostile-state-");

afterAll(async () => {
  await procs.cleanup();
  ws.cleanup();
  state.cleanup();
});

/** Every file under `dir`, as the agent would find it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

describe("a hostile agent beside a running sidecar", () => {
  it("finds no sidecar token or key in the workspace, and cannot run a command in the sidecar", {
    timeout: 60_000,
  }, async () => {
    const ingest = `ingest-${randomBytes(16).toString("hex")}`;
    const providerKey = `sk-${randomBytes(16).toString("hex")}`;
    const port = await freePort();
    writeFileSync(join(ws.path, "MEMORY.md"), "a fact\n");
    const sidecar = procs.cli(
      "sidecar",
      ["sidecar"],
      {
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_STATE_DIR: state.path,
        CLAWGUARD_INGEST_TOKEN: ingest,
        OPENAI_API_KEY: providerKey,
        // Nothing listens there: events wait in the spool.
        CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${await freePort()}`,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
      },
      ws.path,
    );
    const url = `http://127.0.0.1:${port}`;
    await waitUntilUp(`${url}/healthz`, sidecar);

    // The agent looks for a token where it can read: every file in the workspace.
    const files = filesUnder(ws.path);
    expect(files.map((f) => f.slice(ws.path.length + 1))).toContain("MEMORY.md");
    // The sidecar's own files (spool, watcher state) are in its state dir, not the agent's workspace.
    expect(readdirSync(join(state.path, "spool")).length).toBeGreaterThan(0);
    expect(files.some((f) => f.includes("spool"))).toBe(false);
    const found = files.filter((f) => /token/i.test(f)).map((f) => readFileSync(f, "utf8").trim());
    // It would use one to run `env` (the sidecar's environment: keys) or `kill -9 $PPID` (the
    // sidecar itself) through POST /v1/exec; without a token that is refused.
    const attempts = async (bearer: string | undefined) => {
      for (const argv of [["env"], ["sh", "-c", "kill -9 $PPID"]]) {
        const res = await fetch(`${url}/v1/exec`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          },
          body: JSON.stringify({ argv }),
        });
        const text = await res.text();
        expect(text).not.toContain(ingest);
        expect(text).not.toContain(providerKey);
        expect(res.status).toBe(bearer === undefined ? 401 : 404);
      }
    };
    await attempts(undefined);
    for (const candidate of found) await attempts(candidate);
    expect(found).toEqual([]);

    // The token the sidecar generated is in its own state dir, mode 0600, and no file the agent
    // can read holds it, the ingest token or the provider's key.
    const tokenFile = join(state.path, "sidecar.token");
    const token = readFileSync(tokenFile, "utf8").trim();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    for (const file of files) {
      const text = readFileSync(file, "latin1");
      for (const secret of [token, ingest, providerKey]) {
        expect(text.includes(secret), `${file} holds a secret`).toBe(false);
      }
    }
    // Even a stolen token (a neighbour on the host network) runs nothing: there is no exec endpoint.
    await attempts(token);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(sidecar.child.exitCode).toBeNull();
    await sidecar.kill("SIGTERM");
  });

  it("refuses a state dir inside the workspace", { timeout: 30_000 }, async () => {
    const run = await runCli(
      ["sidecar"],
      {
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_STATE_DIR: join(ws.path, ".clawguard", "state"),
        CLAWGUARD_INGEST_TOKEN: "x".repeat(32),
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${await freePort()}`,
      },
      ws.path,
    );
    expect(run.code, run.output).toBe(78);
    expect(run.output).toContain("stateDir: expected a folder outside the workspace");
  });
});
