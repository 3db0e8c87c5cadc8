import { join } from "node:path";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, describe, expect, it } from "vitest";
import { SpillStore } from "../exec-guard/spill.ts";
import { Calibration } from "./calibration.ts";
import { llmProxyConfig } from "./config.ts";
import { createGuard, type Guarded, type Harder } from "./guard.ts";
import { GuardWorker, WORKER_MIN_BYTES } from "./guard-pool.ts";
import { FAMILIES, type Provider } from "./providers.ts";
import { tokenizerFor } from "./tokenizer.ts";

const provider: Provider = {
  id: "p",
  family: FAMILIES["openai-completions"],
  upstream: new URL("http://127.0.0.1:9/v1"),
  models: new Map([["gpt-4.1", { contextWindow: 1_000_000, maxTokens: 500 }]]),
};
const config = llmProxyConfig.parse({});
/** A conversation of ~400 KB: over WORKER_MIN_BYTES. */
const text = JSON.stringify({
  model: "gpt-4.1",
  messages: Array.from({ length: 20_000 }, (_, i) => ({ role: "user", content: `note ${i}` })),
});
const overflow = { limit: 32_000, prompt: 200_000 };

const dirs: { cleanup(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function guarded(): Guarded {
  return {
    model: "gpt-4.1",
    stream: false,
    budget: 900_000,
    reserve: 500,
    counter: tokenizerFor("gpt-4.1", 0),
  };
}

describe("the retry's trim of a big request", () => {
  it("runs in the guard worker, which trims it and sends its logs back", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const lines: string[] = [];
    const worker = new GuardWorker({ ...silentLogger, info: (msg: string) => void lines.push(msg) });
    try {
      expect(text.length).toBeGreaterThan(WORKER_MIN_BYTES);
      // A request of this provider guarded there first: the worker knows how to build its guard.
      await worker.run({
        provider: {
          id: "p",
          api: "openai-completions",
          upstream: provider.upstream.href,
          models: [...provider.models],
        },
        config,
        calibration: {},
        spillDir: join(dir.path, "spill"),
        spillWorkspace: undefined,
        agent: "t",
        headers: {},
        body: Buffer.from(text),
      });
      const done = await worker.trimHarder(provider, text, guarded(), overflow);
      expect(done?.trim?.changed).toBe(true);
      expect(done?.trim?.tokensAfter).toBeLessThan((done?.trim?.tokensBefore ?? 0) / 5);
      expect(done?.counted?.total).toBeGreaterThan(100_000);
      expect(lines).toContain("llm request trimmed after the provider's overflow answer");
      // A provider it has not seen: not there (the guard then trims where it is).
      expect(await worker.trimHarder({ ...provider, id: "q" }, text, guarded(), overflow)).toBeUndefined();
    } finally {
      await worker.close();
    }
  });

  it("is not done on the guard's own thread when it has a worker, and its count is a calibration sample", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const asked: string[] = [];
    const trim = {
      text: "{}",
      changed: true,
      fits: true,
      tokensBefore: 9,
      tokensAfter: 1,
      spilled: [],
      droppedItems: 1,
      droppedTokens: 8,
    };
    const calibration = new Calibration();
    const guard = createGuard({
      config,
      tokenizerFor: (model, bytes) => tokenizerFor(model, bytes),
      calibration,
      spill: new SpillStore(join(dir.path, "spill")),
      agent: "t",
      event: () => {},
      counted: () => {},
      away: {
        trimHarder: async (_p, body): Promise<Harder> => {
          asked.push(body);
          return { trim, counted: { prefix: 0, total: 160_000 } };
        },
      },
      log: silentLogger,
    });
    expect(await guard.trimHarder(provider, text, guarded(), overflow)).toBe(trim);
    expect(asked).toEqual([text]);
    expect(calibration.correction("p", "gpt-4.1", "o200k_base", 0.02)).toMatchObject({
      ratio: 1.25,
      samples: 1,
    });
    // A small request is trimmed here.
    const small = JSON.stringify({ model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] });
    await guard.trimHarder(provider, small, guarded(), overflow);
    expect(asked).toHaveLength(1);
  });
});
