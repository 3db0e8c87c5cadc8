import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { tokenizerFor } from "@clawguard/shared/tokens";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FakeProvider,
  type RecordedRequest,
  startFakeProvider,
  toolResultsOf,
} from "../support/fake-provider.ts";
import { ensureOpenClaw, type Gateway, startGateway } from "../support/openclaw.ts";
import { type Managed, Processes, startLoneSidecar } from "../support/processes.ts";

/**
 * A real OpenClaw gateway in front of an OpenAI-compatible provider whose real window is 32 000 tokens
 * (OpenClaw is told 200 000), the model named by an id in no table of the guard's, so that it counts
 * with its estimate and corrects it from the provider's reported usage. A turn whose tool prints
 * 300 000 lines, then a follow-up: no error to the user, no request over the window at the provider.
 *
 * Opt-in: `pnpm test:openclaw`.
 */

const enabled = process.env.CLAWGUARD_OPENCLAW === "1";
const REAL_WINDOW = 32_000;
const CLAIMED_WINDOW = 200_000;
const MAX_TOKENS = 4096;
const MODEL = "house-llm-7b-chat-v3";
const COMMAND = "seq 1 300000";

describe.skipIf(!enabled)("a real OpenClaw gateway, a model id in no table, a 32 000-token provider", () => {
  const procs = new Processes();
  let tmp: ReturnType<typeof tempDir>;
  let fake: FakeProvider;
  let sidecar: Managed;
  let sidecarUrl: string;
  let gateway: Gateway | undefined;
  let entry: string;
  let cleanupState = () => {};

  beforeAll(async () => {
    entry = await ensureOpenClaw();
  }, 600_000);

  beforeAll(async () => {
    tmp = tempDir("clawguard-openclaw-unknown-");
    // The provider counts with a real tokenizer (o200k stands in for the house model's).
    fake = await startFakeProvider({
      contextWindow: { default: REAL_WINDOW },
      countTokens: tokenizerFor("gpt-4.1").count,
    });
    const config = {
      llm: {
        providers: {
          house: {
            upstream: `${fake.url}/v1`,
            api: "openai-completions",
            models: [{ id: MODEL, contextWindow: REAL_WINDOW, maxTokens: MAX_TOKENS }],
          },
        },
      },
    };
    const lone = await startLoneSidecar(procs, tmp.path, config);
    ({ sidecar, url: sidecarUrl } = lone);
    cleanupState = lone.cleanup;
    gateway = await startGateway({
      entry,
      readyTimeoutMs: 240_000, // ~13 s on a quiet 2-core machine; minutes on a busy one
      dir: join(tmp.path, "openclaw"),
      providers: {
        house: {
          baseUrl: `${sidecarUrl}/llm/house`,
          api: "openai-completions",
          apiKey: "test-key",
          models: [{ id: MODEL, contextWindow: CLAIMED_WINDOW, maxTokens: MAX_TOKENS }],
        },
      },
    });
    console.log(`openclaw gateway ready in ${gateway.startMs} ms`);
  }, 300_000);

  afterAll(async () => {
    await gateway?.stop();
    await procs.cleanup();
    await fake?.close();
    tmp?.cleanup();
    cleanupState();
  });

  const user = `house-${randomBytes(4).toString("hex")}`;

  async function turn(content: string) {
    const from = fake.requests.length;
    const answer = await (gateway as Gateway).chat({
      model: `house/${MODEL}`,
      user,
      content,
      timeoutMs: 120_000,
    });
    const requests = fake.requests.slice(from);
    const why = [
      `answer ${answer.status} in ${answer.ms} ms: ${JSON.stringify(answer.body).slice(0, 500)}`,
      `provider saw: ${requests.map((r: RecordedRequest) => `${r.path} ${r.body.length} B, ${r.promptTokens} tokens${r.tooLong ? " TOO LONG" : ""}`).join("; ")}`,
      `--- openclaw log\n${(gateway as Gateway).logTail(20)}`,
      `--- sidecar\n${sidecar.output().slice(-4000)}`,
    ].join("\n");
    return { answer, requests, why };
  }

  it("answers a first 'ping' (the estimate alone must not refuse OpenClaw's system prompt)", {
    timeout: 150_000,
  }, async () => {
    fake.script([]);
    const { answer, requests, why } = await turn("ping");
    expect(answer.status, why).toBe(200);
    expect(
      requests.filter((r) => r.tooLong),
      why,
    ).toEqual([]);
    console.log(`ping: ${why.split("\n")[1]}`);
  });

  it("runs a tool printing 300 000 lines, then a follow-up: no error, no request over the window", {
    timeout: 240_000,
  }, async () => {
    fake.script([
      { toolCall: { name: "exec", arguments: { command: COMMAND } } },
      { text: "the numbers run to 300000" },
    ]);
    const first = await turn(`run ${COMMAND}`);
    expect(first.answer.status, first.why).toBe(200);
    expect(
      first.requests.filter((r) => r.tooLong),
      first.why,
    ).toEqual([]);
    expect(first.requests.length, first.why).toBeGreaterThanOrEqual(2);
    const shown = toolResultsOf(first.requests.at(-1) as RecordedRequest).at(-1) ?? "";
    console.log(`tool result as the provider saw it: ${shown.length} chars: ${shown.slice(0, 400)}`);
    // OpenClaw sent ~64 K chars of it (~25 K tokens with its ~9 K prompt: over the window); the guard spilled it.
    expect(shown, first.why).toMatch(/was too large for the context and was saved as spill [0-9A-Z]{26}/);
    fake.script([{ text: "yes, it finished" }]);
    const second = await turn("did it finish?");
    expect(second.answer.status, second.why).toBe(200);
    expect(
      second.requests.filter((r) => r.tooLong),
      second.why,
    ).toEqual([]);
    const readyz = (await (await fetch(`${sidecarUrl}/readyz`)).json()) as { llm?: { counters?: unknown[] } };
    console.log(
      `tool turn: ${first.why.split("\n")[1]}\nfollow-up: ${second.why.split("\n")[1]}\ncounters: ${JSON.stringify(readyz.llm?.counters)}`,
    );
    expect(readyz.llm?.counters).toEqual([expect.objectContaining({ provider: "house", model: MODEL })]);
  });
});
