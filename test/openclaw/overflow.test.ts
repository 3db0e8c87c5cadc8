import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { scanFrames } from "@clawguard/sidecar/sinks/spool/frame";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FakeProvider,
  type RecordedRequest,
  startFakeProvider,
  toolResultsOf,
} from "../support/fake-provider.ts";
import { ensureOpenClaw, type Gateway, type OpenClawProvider, startGateway } from "../support/openclaw.ts";
import { freePort, type Managed, Processes, waitUntilUp } from "../support/processes.ts";

/**
 * A real OpenClaw gateway whose provider's real window is smaller than OpenClaw believes: one exec
 * with a huge output makes the next request overflow. Sent straight to the provider the turn fails;
 * through the clawguard sidecar (the provider's `baseUrl` pointing at /llm/<id>) the tool output is
 * spilled and the turn completes, over OpenAI Chat and Anthropic Messages alike.
 *
 * Opt-in (it installs openclaw, ~650 MB, into a cache folder the first time): `pnpm test:openclaw`.
 */

const enabled = process.env.CLAWGUARD_OPENCLAW === "1";

/** The window the provider really has, in the fake's tokens (UTF-8 bytes / 4); the sidecar is told it too. */
const REAL_WINDOW = 24_000;
/** What OpenClaw is told: it then cuts a tool result at 64 K chars only, far over the real window. */
const CLAIMED_WINDOW = 1_000_000;
const MAX_TOKENS = 4096;
/** `seq 1 1000000` prints 6.9 MB; OpenClaw keeps the last 200 K chars and sends 64 K of them. */
const COMMAND = "seq 1 1000000";

const seen = (request: RecordedRequest) =>
  `tool result chars seen: ${toolResultsOf(request).at(-1)?.length ?? "none"}`;
const script = [{ toolCall: { name: "exec", arguments: { command: COMMAND } } }, { text: seen }];

describe.skipIf(!enabled)("a real OpenClaw gateway with a tool output over the provider's window", () => {
  const procs = new Processes();
  let tmp: ReturnType<typeof tempDir>;
  let fake: FakeProvider;
  let sidecar: Managed;
  let sidecarUrl: string;
  let gateway: Gateway | undefined;
  let entry: string;

  beforeAll(async () => {
    entry = await ensureOpenClaw();
  }, 600_000);

  beforeAll(async () => {
    tmp = tempDir("clawguard-openclaw-");
    fake = await startFakeProvider({ contextWindow: { default: REAL_WINDOW } });
    const models = [{ id: "m1", contextWindow: REAL_WINDOW, maxTokens: MAX_TOKENS }];
    const config = {
      llm: {
        providers: {
          guard: { upstream: `${fake.url}/v1`, api: "openai-completions", models },
          guardant: { upstream: fake.url, api: "anthropic-messages", models },
        },
      },
    };
    writeFileSync(join(tmp.path, "clawguard.yaml"), JSON.stringify(config, null, 2)); // JSON is YAML
    const [sport, nobody] = [await freePort(), await freePort()];
    sidecarUrl = `http://127.0.0.1:${sport}`;
    sidecar = procs.cli(
      "sidecar",
      ["sidecar", "--config", join(tmp.path, "clawguard.yaml")],
      {
        CLAWGUARD_WORKSPACE: tmp.path,
        CLAWGUARD_INGEST_TOKEN: randomBytes(16).toString("hex"),
        // No collector: events wait in the spool, where this test reads them.
        CLAWGUARD_COLLECTOR_URL: `http://127.0.0.1:${nobody}`,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sport}`,
      },
      tmp.path,
    );
    await waitUntilUp(`${sidecarUrl}/healthz`, sidecar);

    const model = (name: string) => [
      { id: "m1", name, contextWindow: CLAIMED_WINDOW, maxTokens: MAX_TOKENS },
    ];
    const providers: Record<string, OpenClawProvider> = {
      direct: {
        baseUrl: `${fake.url}/v1`,
        api: "openai-completions",
        apiKey: "test-key",
        models: model("direct"),
      },
      guard: {
        baseUrl: `${sidecarUrl}/llm/guard`,
        api: "openai-completions",
        apiKey: "test-key",
        models: model("through clawguard"),
      },
      guardant: {
        baseUrl: `${sidecarUrl}/llm/guardant`,
        api: "anthropic-messages",
        apiKey: "test-key",
        models: model("through clawguard, Anthropic"),
      },
    };
    gateway = await startGateway({ entry, dir: join(tmp.path, "openclaw"), providers });
    process.stderr.write(`openclaw gateway ready in ${gateway.startMs} ms\n`);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await procs.cleanup();
    await fake?.close();
    tmp?.cleanup();
  });

  /** One turn that runs the command; what the provider received for it. */
  async function turn(model: string) {
    fake.script(script);
    const from = fake.requests.length;
    const answer = await (gateway as Gateway).chat({
      model: `${model}/m1`,
      user: `${model}-${randomBytes(4).toString("hex")}`,
      content: `run ${COMMAND}`,
    });
    const requests = fake.requests.slice(from);
    const why = [
      `answer ${answer.status} in ${answer.ms} ms: ${JSON.stringify(answer.body).slice(0, 500)}`,
      `provider saw: ${requests.map((r) => `${r.path} ${r.body.length} B, ${r.promptTokens} tokens${r.tooLong ? " TOO LONG" : ""}`).join("; ")}`,
      `--- openclaw log\n${(gateway as Gateway).logTail(20)}`,
      `--- sidecar\n${sidecar.output().slice(-3000)}`,
    ].join("\n");
    return { answer, requests, why };
  }

  it("the sidecar's /readyz lists the guarded providers", async () => {
    const body = (await (await fetch(`${sidecarUrl}/readyz`)).json()) as {
      ready: boolean;
      llm?: { providers: { provider: string; api: string }[] };
    };
    expect(body.ready).toBe(true);
    expect(body.llm?.providers.map((p) => [p.provider, p.api])).toEqual([
      ["guard", "openai-completions"],
      ["guardant", "anthropic-messages"],
    ]);
  });

  it("straight to the provider: the request with the tool output overflows and the turn fails", {
    timeout: 90_000,
  }, async () => {
    const { answer, requests, why } = await turn("direct");
    expect(answer.status, why).toBe(500);
    expect(requests[0]?.scripted, why).toEqual(script[0]); // the model asked for the command
    const over = requests.filter((r) => r.tooLong);
    expect(over.length, why).toBeGreaterThan(0);
    // It was OpenClaw's own cut of the output (64 K chars) that did not fit.
    for (const r of over) expect(toolResultsOf(r).at(-1)?.length, why).toBeGreaterThan(60_000);
    expect(
      requests.some((r) => r.scripted === script[1]),
      why,
    ).toBe(false); // never got to answer
    process.stderr.write(`direct: ${answer.status} in ${answer.ms} ms; ${why.split("\n")[1]}\n`);
  });

  for (const [model, path] of [
    ["guard", "/v1/chat/completions"],
    ["guardant", "/v1/messages"],
  ] as const) {
    it(`through the sidecar (${model}, ${path}): the output is spilled and the turn completes`, {
      timeout: 90_000,
    }, async () => {
      const { answer, requests, why } = await turn(model);
      expect(answer.status, why).toBe(200);
      expect(
        requests.map((r) => r.path),
        why,
      ).toEqual([path, path]);
      expect(
        requests.map((r) => r.tooLong),
        why,
      ).toEqual([false, false]);
      expect(
        requests.map((r) => r.scripted),
        why,
      ).toEqual(script);

      // What the model was shown in place of the output: the preview, with the way to read the rest.
      const last = requests[1] as RecordedRequest;
      const shown = toolResultsOf(last).at(-1) ?? "";
      expect(answer.text, why).toBe(`tool result chars seen: ${shown.length}`);
      const id = /saved as spill ([0-9A-Z]{26})\./.exec(shown)?.[1];
      expect(id, shown.slice(0, 500)).toBeDefined();
      expect(shown).toContain(`clawguard read ${id}`);
      expect(shown.length).toBeLessThan(5000);
      expect(last.promptTokens ?? Infinity).toBeLessThan(REAL_WINDOW - MAX_TOKENS);

      // The output itself is in the sidecar's spill directory, whole as OpenClaw sent it.
      const spill = join(tmp.path, ".clawguard", "spill", `${id}.out`);
      expect(existsSync(spill), why).toBe(true);
      const saved = readFileSync(spill, "utf8");
      expect(saved.length).toBeGreaterThan(60_000);
      expect(saved).toMatch(/^\[earlier output was discarded/); // OpenClaw's retention note, then the lines
      expect(saved).toContain("\n980000\n");

      const trimmed = await trimEvents(id as string);
      expect(trimmed[0]?.attrs, why).toMatchObject({ provider: model, model: "m1", fits: true });
      process.stderr.write(`${model}: ${answer.ms} ms, llm.trimmed ${JSON.stringify(trimmed[0]?.attrs)}\n`);
    });
  }

  /** The sidecar's llm.trimmed events that spilled `id`, read off its spool (no collector runs). */
  async function trimEvents(id: string): Promise<{ attrs: Record<string, unknown> }[]> {
    const dir = join(tmp.path, ".clawguard", "agents", "main", "spool");
    for (const deadline = Date.now() + 5000; ; ) {
      const events = readdirSync(dir)
        .filter((name) => name.endsWith(".log") && statSync(join(dir, name)).isFile())
        .flatMap((name) => scanFrames(readFileSync(join(dir, name))).frames)
        .map(
          (f) => JSON.parse(f.payload.toString("utf8")) as { type?: string; attrs?: Record<string, unknown> },
        )
        .filter((e) => e.type === "llm.trimmed" && (e.attrs?.spilled as string[] | undefined)?.includes(id))
        .map((e) => ({ attrs: e.attrs ?? {} }));
      if (events.length > 0 || Date.now() > deadline) return events;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});
