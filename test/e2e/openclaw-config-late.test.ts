import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { Processes, startLoneSidecar } from "../support/processes.ts";

/**
 * A sidecar started before OpenClaw has written its openclaw.json, as in a compose project where
 * both start together (inject names the file in CLAWGUARD_LLM_OPENCLAW_CONFIG): it starts and says
 * it waits (degraded, naming the file), and guards the providers the file lists once it is there.
 * Before, it exited 78 ("cannot read ... ENOENT") and Compose restarted it until the file came.
 */
const procs = new Processes();
const ws = tempDir("clawguard-late-oc-");
const home = tempDir("clawguard-late-oc-home-");
let provider: FakeProvider | undefined;
afterAll(async () => {
  await procs.cleanup();
  await provider?.close();
  ws.cleanup();
  home.cleanup();
});

interface Ready {
  status: string;
  reasons: string[];
}

describe("a sidecar started before openclaw.json is written", () => {
  it("waits for it (degraded, saying why), then guards its providers", { timeout: 60_000 }, async () => {
    provider = await startFakeProvider();
    mkdirSync(join(ws.path, ".clawguard"));
    const file = join(home.path, "openclaw.json");
    const { url, cleanup } = await startLoneSidecar(procs, ws.path, {
      agent: "late",
      heartbeat: { enabled: false },
      llm: { openclawConfig: file },
    });
    try {
      const ready = async () => (await (await fetch(`${url}/readyz`)).json()) as Ready;
      const before = await ready();
      expect(before.status).toBe("degraded");
      expect(before.reasons.join("\n")).toContain(`${file} is not there yet`);
      const ask = () =>
        fetch(`${url}/llm/fake/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer test-key" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
        });
      expect((await ask()).status).toBe(404);

      writeFileSync(
        file,
        JSON.stringify({
          models: {
            providers: {
              fake: {
                baseUrl: `${provider.url}/v1`,
                api: "openai-completions",
                models: [{ id: "m", contextWindow: 128_000 }],
              },
            },
          },
        }),
      );
      const deadline = Date.now() + 15_000;
      let after = await ready();
      while (after.reasons.some((r) => r.includes(file)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        after = await ready();
      }
      expect(after.reasons.join("\n")).not.toContain(file);
      const answer = await ask();
      expect(answer.status).toBe(200);
      expect(provider.requests.map((r) => r.path)).toContain("/v1/chat/completions");
    } finally {
      cleanup();
    }
  });

  it("starts degraded when the agent broke its openclaw.json (not JSON, or a provider through the sidecar with no upstream), and guards again once it is fixed", {
    timeout: 60_000,
  }, async () => {
    provider ??= await startFakeProvider();
    const file = join(home.path, "broken.json");
    writeFileSync(file, "{ this is not json");
    const { url, cleanup } = await startLoneSidecar(procs, ws.path, {
      agent: "broken",
      heartbeat: { enabled: false },
      llm: { openclawConfig: file },
    });
    try {
      const ready = async () => (await (await fetch(`${url}/readyz`)).json()) as Ready;
      expect((await ready()).reasons.join("\n")).toMatch(
        /broken\.json: .*cannot read .*those providers are not guarded/,
      );
      const untilReasons = async (check: (reasons: string) => boolean) => {
        for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
          const reasons = (await ready()).reasons.join("\n");
          if (check(reasons)) return reasons;
          await new Promise((r) => setTimeout(r, 100));
        }
        return (await ready()).reasons.join("\n");
      };
      // A provider of the agent's own making, pointed at the sidecar, that the sidecar has no URL for.
      const providers = (extra: Record<string, unknown>) =>
        JSON.stringify({
          models: {
            providers: {
              fake: {
                baseUrl: `${provider?.url}/v1`,
                api: "openai-completions",
                models: [{ id: "m", contextWindow: 128_000 }],
              },
              ...extra,
            },
          },
        });
      writeFileSync(
        file,
        providers({ zzz: { baseUrl: `${url}/llm/zzz`, api: "openai-completions", models: [] } }),
      );
      expect(await untilReasons((r) => r.includes("zzz"))).toMatch(
        /models\.providers\.zzz.*upstream: required/,
      );
      writeFileSync(file, providers({}));
      expect(await untilReasons((r) => !r.includes("broken.json"))).not.toContain("broken.json");
      const answer = await fetch(`${url}/llm/fake/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer test-key" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(answer.status).toBe(200);
    } finally {
      cleanup();
    }
  });
});
