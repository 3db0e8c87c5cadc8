import { once } from "node:events";
import { chmodSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execCacheDir } from "./cache-dir.ts";
import { agentOfSidecar, type ExecSettings, execSettings } from "./exec-settings.ts";

let tmp: ReturnType<typeof tempDir>;
let cache: string;
let file: string;
let loads: number;

/** A loader that counts its calls and answers with what the config file says. */
async function counting(
  _flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<ExecSettings> {
  loads++;
  return {
    agent: env.CLAWGUARD_AGENT ?? "main",
    role: "agent",
    host: "test",
    paths: { spill: join(cwd, ".clawguard", "spill"), inbox: join(cwd, ".clawguard", "inbox") },
    exec: {
      maxBytes: Number(env.CLAWGUARD_EXEC_MAX_BYTES ?? 51_200),
      previewBytes: 8192,
      timeoutMs: 1000,
      killGraceMs: 100,
      policy: { default: "allow", allow: [], deny: ["rm -rf *"] },
      onAuditFailure: "refuse",
      spill: { maxBytes: 1 << 30, retentionMs: 86_400_000, sweepIntervalMs: 60_000 },
    },
  };
}

beforeEach(() => {
  tmp = tempDir("clawguard-exec-settings-");
  cache = join(tmp.path, "cache");
  file = join(tmp.path, "clawguard.yaml");
  writeFileSync(file, "agent: main\n");
  loads = 0;
});

afterEach(() => tmp.cleanup());

describe("exec settings", () => {
  it("loads once for the same inputs, then comes from the cache", async () => {
    const first = await execSettings(file, {}, tmp.path, cache, counting);
    const second = await execSettings(file, {}, tmp.path, cache, counting);
    expect(loads).toBe(1);
    expect(second).toEqual(first);
    expect(readdirSync(cache)).toHaveLength(1);
  });

  it("loads again when the config file, a config variable or the directory changes", async () => {
    await execSettings(file, {}, tmp.path, cache, counting);
    writeFileSync(file, "agent: main\nexec: { maxBytes: 1024 }\n");
    await execSettings(file, {}, tmp.path, cache, counting);
    const fromEnv = await execSettings(file, { CLAWGUARD_EXEC_MAX_BYTES: "4096" }, tmp.path, cache, counting);
    expect(fromEnv.exec.maxBytes).toBe(4096);
    const elsewhere = join(tmp.path, "sub");
    mkdirSync(elsewhere);
    await execSettings(file, {}, elsewhere, cache, counting);
    expect(loads).toBe(4);
    // A variable the loader does not read (the session) is no input: still cached.
    await execSettings(file, { CLAWGUARD_SESSION: "s1" }, tmp.path, cache, counting);
    expect(loads).toBe(4);
  });

  it("keeps nothing in a directory others can write, or one that is a symlink", async () => {
    mkdirSync(cache, { mode: 0o700 });
    chmodSync(cache, 0o777);
    await execSettings(file, {}, tmp.path, cache, counting);
    await execSettings(file, {}, tmp.path, cache, counting);
    expect(loads).toBe(2);
    expect(readdirSync(cache)).toEqual([]);
    const real = join(tmp.path, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(tmp.path, "link"));
    await execSettings(file, {}, tmp.path, join(tmp.path, "link"), counting);
    await execSettings(file, {}, tmp.path, join(tmp.path, "link"), counting);
    expect(loads).toBe(4);
    expect(readdirSync(real)).toEqual([]);
  });

  it("a damaged entry is loaded again and replaced", async () => {
    await execSettings(file, {}, tmp.path, cache, counting);
    const [entry] = readdirSync(cache);
    writeFileSync(join(cache, entry as string), "{not json");
    const again = await execSettings(file, {}, tmp.path, cache, counting);
    expect(loads).toBe(2);
    expect(again.exec.policy.deny).toEqual(["rm -rf *"]);
    await execSettings(file, {}, tmp.path, cache, counting);
    expect(loads).toBe(2);
  });

  it("with the real loader: the cached settings are the config's, and a bad config is still refused", async () => {
    writeFileSync(
      file,
      "agent: builder\nexec:\n  maxBytes: 2048\n  previewBytes: 1024\n  policy: { deny: ['curl *'] }\n",
    );
    const loaded = await execSettings(file, {}, tmp.path, cache);
    const cached = await execSettings(file, {}, tmp.path, cache);
    expect(cached).toEqual(loaded);
    expect(cached).toMatchObject({
      agent: "builder",
      exec: { maxBytes: 2048, policy: { deny: ["curl *"] } },
    });
    expect(cached.paths.spill).toBe(join(tmp.path, ".clawguard", "spill"));
    writeFileSync(file, "agent: builder\nexec: { maxBytes: -1 }\n");
    await expect(execSettings(file, {}, tmp.path, cache)).rejects.toThrow(/exec\.maxBytes/);
  });

  it("keeps nothing when the agent was not known (no sidecar answered): the next run asks again", async () => {
    const unknown = async () => ({ ...(await counting(file, {}, tmp.path)), agentUnknown: true as const });
    await execSettings(file, { CLAWGUARD_SESSION: "unknown" }, tmp.path, cache, unknown);
    await execSettings(file, { CLAWGUARD_SESSION: "unknown" }, tmp.path, cache, unknown);
    expect(loads).toBe(2);
  });

  it("is off from the sources unless CLAWGUARD_EXEC_CACHE names a directory", () => {
    expect(execCacheDir({ CLAWGUARD_EXEC_CACHE: "off" })).toBeUndefined();
    expect(execCacheDir({ CLAWGUARD_EXEC_CACHE: cache })).toBe(cache);
  });
});

describe("agentOfSidecar: who the agent is, asked of the sidecar in its network namespace", () => {
  it("names the agent its sidecar's /healthz names; undefined when none answers", async () => {
    const server = createServer((req, res) => {
      res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, status: "live", agent: "worker1" }));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    try {
      expect(await agentOfSidecar({ CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}` })).toBe("worker1");
    } finally {
      server.close();
    }
    expect(await agentOfSidecar({ CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}` })).toBeUndefined();
  });

  it("waits for a sidecar slow to answer (a loaded machine) rather than take the default agent", async () => {
    const server = createServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true, status: "live", agent: "sub2" }));
      }, 1500);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    try {
      expect(await agentOfSidecar({ CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}` })).toBe("sub2");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
