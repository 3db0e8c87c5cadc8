import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

/**
 * `clawguard memory restore` (a real process) against a collector that answers the history and
 * blob routes as the collector does (GET /v1/memory/history, GET /v1/blobs/:sha256).
 */

const CLI = fileURLToPath(new URL("../bin.ts", import.meta.url));
const OLD = "the version to restore\n";
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

let ws: ReturnType<typeof tempDir>;
let outside: ReturnType<typeof tempDir>;
let server: Server;
let url: string;

beforeEach(async () => {
  ws = tempDir("clawguard-restore-");
  outside = tempDir("clawguard-restore-outside-");
  server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/v1/memory/history") {
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          versions: [
            {
              event_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
              time: "2026-11-01T00:00:00.000Z",
              agent: "main",
              path: u.searchParams.get("path"),
              change: "created",
              size: OLD.length,
              sha256: sha(OLD),
              blob: true,
            },
          ],
        }),
      );
    } else if (u.pathname === `/v1/blobs/${sha(OLD)}`) res.end(OLD);
    else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterEach(() => {
  server.close();
  ws.cleanup();
  outside.cleanup();
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ws.path,
    env: {
      PATH: process.env.PATH,
      HOME: ws.path,
      CLAWGUARD_WORKSPACE: ws.path,
      CLAWGUARD_COLLECTOR_URL: url,
      CLAWGUARD_READ_TOKEN: "read-token-0123456789",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

const restore = (path: string) => cli(["memory", "restore", path, "--at", sha(OLD).slice(0, 12)]);

describe("clawguard memory restore", () => {
  it("keeps the replaced content in today's trash folder, which decay empties like the rest", async () => {
    writeFileSync(join(ws.path, "MEMORY.md"), "the current version\n");
    const run = await restore("MEMORY.md");
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(ws.path, "MEMORY.md"), "utf8")).toBe(OLD);
    const today = new Date().toISOString().slice(0, 10);
    const kept = `memory/.trash/${today}/restored/MEMORY.md`;
    expect(run.stdout).toContain(`the previous content is in ${kept}`);
    expect(readFileSync(join(ws.path, kept), "utf8")).toBe("the current version\n");
    // A second restore the same day does not replace the first one's copy.
    writeFileSync(join(ws.path, "MEMORY.md"), "edited again\n");
    expect((await restore("MEMORY.md")).code).toBe(0);
    expect(readFileSync(join(ws.path, `memory/.trash/${today}/restored/MEMORY~2.md`), "utf8")).toBe(
      "edited again\n",
    );
    // 31 days on, decay deletes that day's trash, copies of restores included.
    const later = new Date(Date.now() + 32 * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
    const decay = await cli(["memory", "decay", "--now", later]);
    expect(decay.code, decay.stderr).toBe(0);
    expect(existsSync(join(ws.path, "memory/.trash", today))).toBe(false);
  });

  it("refuses a path with a symbolic link in it, reading and writing nothing outside (exit 2)", async () => {
    writeFileSync(join(outside.path, "secret.md"), "outside secret\n");
    mkdirSync(join(outside.path, "memory"));
    writeFileSync(join(outside.path, "memory", "notes.md"), "outside notes\n");
    symlinkSync(join(outside.path, "secret.md"), join(ws.path, "MEMORY.md"));
    symlinkSync(join(outside.path, "memory"), join(ws.path, "memory"));
    for (const path of ["MEMORY.md", "memory/notes.md"]) {
      const run = await restore(path);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/is a symbolic link/);
    }
    expect(readFileSync(join(outside.path, "secret.md"), "utf8")).toBe("outside secret\n");
    expect(readdirSync(join(outside.path, "memory"))).toEqual(["notes.md"]);
    expect(readFileSync(join(outside.path, "memory", "notes.md"), "utf8")).toBe("outside notes\n");
    expect(lstatSync(join(ws.path, "MEMORY.md")).isSymbolicLink()).toBe(true);
    // Nothing of the outside files became a version waiting for the collector.
    expect(existsSync(join(ws.path, ".clawguard"))).toBe(false);
  });

  it("refuses a trash folder that is a symbolic link before changing the file (exit 2)", async () => {
    writeFileSync(join(ws.path, "MEMORY.md"), "the current version\n");
    mkdirSync(join(ws.path, "memory"));
    symlinkSync(outside.path, join(ws.path, "memory/.trash"));
    const run = await restore("MEMORY.md");
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("memory/.trash is a symbolic link");
    expect(readdirSync(outside.path)).toEqual([]);
    expect(readFileSync(join(ws.path, "MEMORY.md"), "utf8")).toBe("the current version\n");
  });
});
