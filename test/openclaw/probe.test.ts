import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { tokenizerFor } from "@clawguard/shared/tokens";
import { proberConfig } from "@clawguard/sidecar/sources/prober/config";
import { Prober } from "@clawguard/sidecar/sources/prober/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, type RecordedRequest, startFakeProvider } from "../support/fake-provider.ts";
import { ensureOpenClaw, type Gateway, startGateway } from "../support/openclaw.ts";

/**
 * The sidecar's chat probe against a real OpenClaw gateway whose provider is the local stand-in
 * (counting prompts with gpt-4.1's own tokenizer, o200k): the probes of a window share ONE OpenClaw
 * session, the next window starts another, and a provider refusing the agent's key is told apart
 * from the gateway refusing the probe's token. Prints the tokens a probe costs.
 *
 * Opt-in (it installs openclaw, ~650 MB, into a cache folder the first time): `pnpm test:openclaw`.
 */

const enabled = process.env.CLAWGUARD_OPENCLAW === "1";

const INTERVAL_MS = 10_000; // the default probe.intervalMs
const SESSION_TURNS = 50; // the default sessionTurns
const WINDOW_MS = INTERVAL_MS * SESSION_TURNS;
const PROBES = 6;

describe.skipIf(!enabled)("the chat probe against a real OpenClaw gateway", () => {
  let tmp: ReturnType<typeof tempDir>;
  let fake: FakeProvider;
  let gateway: Gateway | undefined;
  /** The probes' clock: the start of a window, moved by hand. */
  let clock = Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS;

  beforeAll(async () => {
    const entry = await ensureOpenClaw();
    tmp = tempDir("clawguard-openclaw-probe-");
    const o200k = tokenizerFor("gpt-4.1");
    fake = await startFakeProvider({ countTokens: (text) => o200k.count(text) });
    gateway = await startGateway({
      entry,
      dir: join(tmp.path, "openclaw"),
      readyTimeoutMs: 180_000,
      providers: {
        fake: {
          baseUrl: `${fake.url}/v1`,
          api: "openai-completions",
          apiKey: "test-key",
          models: [{ id: "gpt-4.1", contextWindow: 128_000, maxTokens: 4096 }],
        },
      },
    });
    console.log(`openclaw gateway ready in ${gateway.startMs} ms`);
  }, 900_000);

  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    tmp?.cleanup();
  });

  function prober(token: string) {
    const events: EventDraft[] = [];
    const p = new Prober({
      config: proberConfig.parse({
        intervalMs: INTERVAL_MS,
        timeoutMs: 120_000,
        failuresToFail: 1,
        successesToPass: 1,
        probes: [
          {
            name: "chat",
            kind: "chat",
            url: `${(gateway as Gateway).url}/v1/chat/completions`,
            token: { env: "GW_TOKEN" },
          },
        ],
      }),
      env: { GW_TOKEN: token },
      source: { agent: "main", role: "gateway", host: "test" },
      publish: async (drafts) => {
        events.push(...drafts);
      },
      log: silentLogger,
      now: () => clock,
    });
    const detail = () => p.health().probes[0]?.last?.detail;
    return { p, detail, events };
  }

  /** The probe's sessions as OpenClaw keeps them: one row per session id, with its key. */
  function probeSessions(): { key: string; id: string }[] {
    const file = join(tmp.path, "openclaw", "state", "agents", "main", "agent", "openclaw-agent.sqlite");
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      return db
        .prepare(
          "SELECT session_key AS key, session_id AS id FROM session_windows WHERE session_key LIKE 'agent:main:openai-user:clawguard-probe-%' ORDER BY created_at",
        )
        .all() as { key: string; id: string }[];
    } finally {
      db.close();
    }
  }

  const messagesOf = (r: RecordedRequest) => ((r.json as { messages?: unknown[] }).messages ?? []).length;

  it(`${PROBES} probes in one window make ONE OpenClaw session, which the next window replaces`, {
    timeout: 600_000,
  }, async () => {
    const { p, detail } = prober((gateway as Gateway).token);
    const window = Math.floor(clock / WINDOW_MS);
    const asked: RecordedRequest[] = [];
    for (let i = 0; i < PROBES; i++) {
      const from = fake.requests.length;
      await p.probeOnce();
      const why = `${detail()}\n--- openclaw log\n${(gateway as Gateway).logTail(20)}`;
      expect(p.health().state, why).toBe("healthy");
      expect(fake.requests.length - from, why).toBe(1); // one model call per probe
      asked.push(fake.requests[from] as RecordedRequest);
      clock += INTERVAL_MS;
    }
    const sessions = probeSessions();
    expect(sessions, JSON.stringify(sessions)).toHaveLength(1);
    expect(sessions[0]?.key).toBe(`agent:main:openai-user:clawguard-probe-chat-${window}`);
    // The same session: each probe's request carries the exchanges of the ones before it.
    const counts = asked.map(messagesOf);
    for (let i = 1; i < PROBES; i++) expect(counts[i]).toBe((counts[0] as number) + 2 * i);
    // The probe's cap reached the provider.
    expect((asked[0] as RecordedRequest).json).toMatchObject({ max_completion_tokens: 64 });

    const tokens = asked.map((r) => r.promptTokens as number);
    const first = tokens[0] as number;
    const perTurn = ((tokens.at(-1) as number) - first) / (PROBES - 1);
    // A window's probes cost first + perTurn * k for k = 0..SESSION_TURNS-1: on average this.
    const average = first + (perTurn * (SESSION_TURNS - 1)) / 2;
    const perHour = average * (3_600_000 / INTERVAL_MS);
    console.log(
      `probe prompt tokens (o200k): ${tokens.join(", ")}; first ${first}, +${perTurn.toFixed(1)} a probe in the session; ` +
        `over a window of ${SESSION_TURNS} probes ${Math.round(average)} a probe on average, at one probe every ${INTERVAL_MS / 1000} s ` +
        `${Math.round(perHour)} tokens an hour`,
    );

    // Within the session the prompt grows only at its end: the system prompt and tools are the
    // same bytes on every probe, a prefix a provider's prompt cache can keep.
    const systemOf = (r: RecordedRequest) => JSON.stringify((r.json as { messages: unknown[] }).messages[0]);
    const toolsOf = (r: RecordedRequest) => JSON.stringify((r.json as { tools?: unknown }).tools);
    for (const r of asked.slice(1)) {
      expect(systemOf(r) === systemOf(asked[0] as RecordedRequest)).toBe(true);
      expect(toolsOf(r) === toolsOf(asked[0] as RecordedRequest)).toBe(true);
    }

    // The probe as it was (no user): a new session each, at the cost of a session's first probe.
    const before = fake.requests.length;
    for (let i = 0; i < 2; i++) {
      const answer = await fetch(`${(gateway as Gateway).url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${(gateway as Gateway).token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          model: "openclaw/main",
          messages: [{ role: "user", content: "Reply with the single word: pong" }],
        }),
      });
      expect(answer.status).toBe(200);
    }
    const old = fake.requests.slice(before).map((r) => r.promptTokens as number);
    console.log(`without a user (a new session each): ${old.join(", ")} prompt tokens`);
    for (const t of old) expect(Math.abs(t - first)).toBeLessThan(first * 0.05);

    // The next window: a fresh session, without the history.
    clock = (window + 1) * WINDOW_MS;
    const from = fake.requests.length;
    await p.probeOnce();
    expect(p.health().state, detail()).toBe("healthy");
    expect(messagesOf(fake.requests[from] as RecordedRequest)).toBe(counts[0]);
    const after = probeSessions();
    expect(after.map((s) => s.key)).toEqual([
      sessions[0]?.key,
      `agent:main:openai-user:clawguard-probe-chat-${window + 1}`,
    ]);
  });

  it("says the gateway refused the probe's token when it is wrong, without asking the provider", {
    timeout: 120_000,
  }, async () => {
    const { p, detail } = prober("not-the-gateway-token");
    const from = fake.requests.length;
    await p.probeOnce();
    expect(p.health().state).toBe("unhealthy");
    expect(detail()).toBe(
      "the gateway refused the probe's token (HTTP 401: Unauthorized): check gateway.auth.token and probe.probes.chat.token",
    );
    expect(fake.requests.length).toBe(from);
  });

  it("says the agent's provider rejected its credential on the provider's 401, and still while OpenClaw holds the key back", {
    timeout: 300_000,
  }, async () => {
    const { p, detail } = prober((gateway as Gateway).token);
    fake.setMode("unauthorized");
    try {
      const from = fake.requests.length;
      await p.probeOnce();
      const why = `${detail()}\n--- openclaw log\n${(gateway as Gateway).logTail(20)}`;
      expect(fake.requests.length - from, why).toBeGreaterThan(0); // the provider was asked and refused
      expect(p.health().state, why).toBe("unhealthy");
      expect(detail(), why).toBe(
        "the agent's provider rejected its credential: 401 Incorrect API key provided: test-key. You can find your API key at https://platform.openai.com/account/api-keys. (HTTP 401)",
      );
      // OpenClaw now holds the key back (about a minute): its 500 "internal error", no provider call.
      const held = fake.requests.length;
      await p.probeOnce();
      const why2 = `${detail()}\n--- openclaw log\n${(gateway as Gateway).logTail(10)}`;
      expect(fake.requests.length, why2).toBe(held);
      expect(detail(), why2).toMatch(
        /^the agent's provider rejected its credential: 401 Incorrect API key provided: test-key\. .* \(HTTP 401\); since then OpenClaw holds the credential back and answers HTTP 500 "internal error" until it tries it again$/,
      );
      expect(p.health().reasons[0]).toMatch(/^chat: the agent's provider rejected its credential: 401 /);
    } finally {
      fake.setMode("normal");
    }
  });
});
