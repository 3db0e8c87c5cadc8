import { spawn } from "node:child_process";
import { once } from "node:events";
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { tempDir } from "@clawguard/shared/testing";
import { llmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { type RunningGuard, startLlmGuard } from "../support/llm-guard.ts";
import { CLI } from "../support/processes.ts";

/**
 * The context guard's spills (old tool outputs it saves so the model can read them later) are
 * written by the sidecar, which runs as another user than the agent (root in its container): the
 * agent must still read them with its own `clawguard read`, and a link in the workspace must not
 * send them elsewhere. A real guard, a real provider over HTTP, the agent as a process of its uid.
 */

const AGENT = { uid: 4242, gid: 4343 };
const asRoot = process.getuid?.() === 0;
const dirs: ReturnType<typeof tempDir>[] = [];
const rigs: RunningGuard[] = [];
let fake: FakeProvider;

beforeAll(async () => {
  fake = await startFakeProvider({ contextWindow: { default: 6000 } });
});

afterAll(async () => {
  for (const rig of rigs) await rig.stop();
  await fake?.close();
  for (const dir of dirs) dir.cleanup();
});

/** A guard for a workspace the agent's user owns, as the sidecar's volume is. */
async function guardFor(workspace: string): Promise<RunningGuard> {
  const config = llmProxyConfig.parse({
    providers: {
      openai: {
        upstream: `${fake.url}/v1`,
        api: "openai-completions",
        models: [{ id: "gpt-4.1", contextWindow: 6000, maxTokens: 500 }],
      },
    },
    authCheckIntervalMs: 0,
  });
  const rig = await startLlmGuard({
    dir: workspace,
    config,
    telemetry: await startTelemetry("test", {}),
    source: { agent: "main", role: "agent", host: "test" },
  });
  rigs.push(rig);
  return rig;
}

/** A tool output of ~200 KB (guarded on the proxy's thread) or ~400 KB (in its worker thread). */
const huge = (lines: number) =>
  `build log\n${Array.from({ length: lines }, (_, i) => `line${i}`).join("\n")}\nERROR: failed`;
const SIZES = [20_000, 40_000];

/** A chat request whose current tool output is too big for the window: the guard spills it. */
async function askWithHugeOutput(
  rig: RunningGuard,
  lines: number,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${rig.server.url}/llm/openai/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer test-key" },
    body: JSON.stringify({
      model: "gpt-4.1",
      messages: [
        { role: "user", content: "build it" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c1", type: "function", function: { name: "exec", arguments: "{}" } }],
        },
        { role: "tool", tool_call_id: "c1", content: huge(lines) },
      ],
    }),
  });
  return { status: res.status, text: await res.text() };
}

/** `clawguard read` run by the agent: a process of the agent's uid and gid, in the workspace. */
async function agentReads(workspace: string, id: string): Promise<{ code: number | null; out: string }> {
  const tmp = tempDir("clawguard-agent-tmp-");
  dirs.push(tmp);
  chownSync(tmp.path, AGENT.uid, AGENT.gid);
  const child = spawn(process.execPath, [CLI, "read", id, "--lines", "1:3"], {
    cwd: workspace,
    uid: AGENT.uid,
    gid: AGENT.gid,
    env: { PATH: process.env.PATH ?? "", HOME: tmp.path, TMPDIR: tmp.path },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const [code] = (await once(child, "close")) as [number | null];
  return { code, out };
}

describe.skipIf(!asRoot)("context-guard spills written by a root sidecar", () => {
  it("belong to the workspace's owner: the agent reads them with its own uid", {
    timeout: 30_000,
  }, async () => {
    const ws = tempDir("clawguard-spill-owner-");
    dirs.push(ws);
    chownSync(ws.path, AGENT.uid, AGENT.gid);
    const rig = await guardFor(ws.path);
    for (const lines of SIZES) {
      const answer = await askWithHugeOutput(rig, lines);
      expect(answer.status, answer.text).toBe(200);
      const sent = JSON.stringify(fake.requests.at(-1)?.json);
      const id = /saved as spill ([0-9A-Z]{26})/.exec(sent)?.[1] as string;
      expect(id, sent.slice(0, 400)).toMatch(/^[0-9A-Z]{26}$/);
      await expect
        .poll(() => readdirSync(rig.spill.dir).filter((n) => n.startsWith(id)), { timeout: 5000 })
        .toHaveLength(2);
      for (const path of [
        join(ws.path, ".clawguard"),
        rig.spill.dir,
        join(rig.spill.dir, `${id}.out`),
        join(rig.spill.dir, `${id}.json`),
      ]) {
        const st = lstatSync(path);
        expect([path, st.uid, st.gid]).toEqual([path, AGENT.uid, AGENT.gid]);
        expect(st.mode & 0o077, path).toBe(0); // the agent's alone, as its own exec spills are
      }
      expect(readFileSync(join(rig.spill.dir, `${id}.out`), "utf8")).toBe(huge(lines));
      const read = await agentReads(ws.path, id);
      expect(read.code, read.out).toBe(0);
      expect(read.out.startsWith("build log\nline0\nline1\n"), read.out).toBe(true);
    }
  });

  it("never follow a link the agent planted at the spill folder", { timeout: 30_000 }, async () => {
    const ws = tempDir("clawguard-spill-link-");
    const outside = tempDir("clawguard-spill-outside-");
    dirs.push(ws, outside);
    chownSync(ws.path, AGENT.uid, AGENT.gid);
    mkdirSync(join(ws.path, ".clawguard"));
    chownSync(join(ws.path, ".clawguard"), AGENT.uid, AGENT.gid);
    symlinkSync(outside.path, join(ws.path, ".clawguard", "spill"));
    const rig = await guardFor(ws.path);
    for (const lines of SIZES) {
      // Sent unguarded (logged): the provider's own answer (here: too long), never a 5xx.
      const answer = await askWithHugeOutput(rig, lines);
      expect(answer.status, answer.text).toBe(400);
      expect(answer.text).toContain("context_length_exceeded");
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(readdirSync(outside.path)).toEqual([]);
    expect(lstatSync(outside.path).uid).toBe(0);
  });
});
