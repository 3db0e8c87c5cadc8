import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
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
import { type Managed, Processes, startLoneSidecar } from "../support/processes.ts";

/**
 * A real OpenClaw gateway whose provider's real window is smaller than OpenClaw believes: one exec
 * with a huge output makes the next request overflow. Sent straight to the provider the turn fails;
 * through the clawguard sidecar (the provider's `baseUrl` pointing at /llm/<id>) the tool output is
 * spilled and the turn completes, over OpenAI Chat and Anthropic Messages alike.
 *
 * Opt-in (it installs openclaw, ~650 MB, into a cache folder the first time): `pnpm test:openclaw`.
 */

const enabled = process.env.CLAWGUARD_OPENCLAW === "1";

/**
 * The window the provider really has, in the fake's tokens (UTF-8 bytes / 4); the sidecar is told it too.
 * OpenClaw's first request (system prompt and 12 tools) is ~9.8 K of them, and the one carrying the tool
 * output ~25.9 K: with the 4096 reserved for the answer the latter overflows, while the former leaves the
 * sidecar room for its own, more cautious count and safety margin.
 */
const REAL_WINDOW = 26_000;
/** What OpenClaw is told: it then cuts a tool result at 64 K chars only, far over the real window. */
const CLAIMED_WINDOW = 1_000_000;
const MAX_TOKENS = 4096;
/** `seq 1 1000000` prints 6.9 MB; OpenClaw keeps the last 200 K chars and sends 64 K of them. */
const COMMAND = "seq 1 1000000";

const seen = (request: RecordedRequest) =>
  `tool result chars seen: ${toolResultsOf(request).at(-1)?.length ?? "none"}`;
const script = [{ toolCall: { name: "exec", arguments: { command: COMMAND } } }, { text: seen }];

/**
 * The routes, as OpenClaw providers. Real model names, as the sidecar picks its token counter by the name
 * (exact for OpenAI's, an estimate for Claude's; a name it does not know gets its most cautious estimate).
 */
const ROUTES = {
  direct: { api: "openai-completions", model: "gpt-4.1", path: "/v1/chat/completions" },
  guard: { api: "openai-completions", model: "gpt-4.1", path: "/v1/chat/completions" },
  guardant: { api: "anthropic-messages", model: "claude-sonnet-4-5", path: "/v1/messages" },
} as const;
type Route = keyof typeof ROUTES;

describe.skipIf(!enabled)("a real OpenClaw gateway with a tool output over the provider's window", () => {
  const procs = new Processes();
  let tmp: ReturnType<typeof tempDir>;
  let fake: FakeProvider;
  let sidecar: Managed;
  let sidecarUrl: string;
  let gateway: Gateway | undefined;
  let entry: string;
  let stateDir: string;
  let cleanupState = () => {};
  /** The tool output as OpenClaw sent it straight to the provider. */
  let directOutput: string | undefined;

  beforeAll(async () => {
    entry = await ensureOpenClaw();
  }, 600_000);

  beforeAll(async () => {
    tmp = tempDir("clawguard-openclaw-");
    fake = await startFakeProvider({ contextWindow: { default: REAL_WINDOW } });
    const limits = (route: Route) => [
      { id: ROUTES[route].model, contextWindow: REAL_WINDOW, maxTokens: MAX_TOKENS },
    ];
    const config = {
      llm: {
        providers: {
          guard: { upstream: `${fake.url}/v1`, api: ROUTES.guard.api, models: limits("guard") },
          guardant: { upstream: fake.url, api: ROUTES.guardant.api, models: limits("guardant") },
        },
      },
    };
    const lone = await startLoneSidecar(procs, tmp.path, config);
    ({ sidecar, url: sidecarUrl, stateDir } = lone);
    cleanupState = lone.cleanup;

    // OpenClaw believes the window is 1M tokens: its own cut keeps 64 K chars of a tool output.
    const baseUrls: Record<Route, string> = {
      direct: `${fake.url}/v1`,
      guard: `${sidecarUrl}/llm/guard`,
      guardant: `${sidecarUrl}/llm/guardant`,
    };
    const providers: Record<string, OpenClawProvider> = {};
    for (const [route, { api, model }] of Object.entries(ROUTES) as [Route, (typeof ROUTES)[Route]][]) {
      const models = [{ id: model, contextWindow: CLAIMED_WINDOW, maxTokens: MAX_TOKENS }];
      providers[route] = { baseUrl: baseUrls[route], api, apiKey: "test-key", models };
    }
    gateway = await startGateway({ entry, dir: join(tmp.path, "openclaw"), providers });
    console.log(`openclaw gateway ready in ${gateway.startMs} ms`);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await procs.cleanup();
    await fake?.close();
    tmp?.cleanup();
    cleanupState();
  });

  /** One turn that runs the command; what the provider received for it. */
  async function turn(route: Route) {
    fake.script(script);
    const from = fake.requests.length;
    const answer = await (gateway as Gateway).chat({
      model: `${route}/${ROUTES[route].model}`,
      user: `${route}-${randomBytes(4).toString("hex")}`,
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

  interface Readyz {
    ready: boolean;
    llm?: { providers: { provider: string; api: string; counts: Record<string, number> }[] };
  }
  const readyz = async () => (await (await fetch(`${sidecarUrl}/readyz`)).json()) as Readyz;

  it("the sidecar's /readyz lists the guarded providers", async () => {
    const body = await readyz();
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
    directOutput = toolResultsOf(over[0] as RecordedRequest).at(-1);
    const answered = requests.map((r) => r.scripted);
    expect(answered, why).not.toContain(script[1]); // the model never got to answer
    console.log(`direct: ${answer.status} in ${answer.ms} ms; ${why.split("\n")[1]}`);
  });

  for (const route of ["guard", "guardant"] as const) {
    const { path, model } = ROUTES[route];
    it(`through the sidecar (${route}, ${path}): the output is spilled and the turn completes`, {
      timeout: 90_000,
    }, async () => {
      const { answer, requests, why } = await turn(route);
      expect(answer.status, why).toBe(200);
      // Two calls, the tool call and the answer; neither over the window, no retry, no compaction.
      const calls = requests.map((r) => ({ path: r.path, tooLong: r.tooLong, scripted: r.scripted }));
      expect(calls, why).toEqual(script.map((scripted) => ({ path, tooLong: false, scripted })));

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
      // The same bytes the provider got on the direct route, when that turn ran.
      if (directOutput !== undefined) expect(saved === directOutput).toBe(true);

      const trimmed = await trimEvents(id as string);
      expect(trimmed[0]?.attrs, why).toMatchObject({ provider: route, model, fits: true });
      const health = (await readyz()).llm?.providers.find((p) => p.provider === route);
      expect(health?.counts.trimmed).toBeGreaterThanOrEqual(1);
      console.log(
        `${route}: "${answer.text}" in ${answer.ms} ms; llm.trimmed ${JSON.stringify(trimmed[0]?.attrs)}`,
      );
    });
  }

  /** The sidecar's llm.trimmed events that spilled `id`, read off its spool (no collector runs). */
  async function trimEvents(id: string): Promise<{ attrs: Record<string, unknown> }[]> {
    const dir = join(stateDir, "spool");
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
