import { join } from "node:path";
import { testCollectorApp } from "@clawguard/collector/api/test-app";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
import { createEmbeddedDb } from "@clawguard/collector/store/embedded/index";
import { migrate } from "@clawguard/collector/store/migrations";
import { EMPTY_HEAD, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { type Listening, listen } from "@clawguard/shared/http/serve";
import { silentLogger } from "@clawguard/shared/log";
import { startTelemetry } from "@clawguard/shared/telemetry";
import { tempDir } from "@clawguard/shared/testing";
import { createSidecarApp } from "@clawguard/sidecar/api/app";
import { EventBus } from "@clawguard/sidecar/bus";
import { workspacePaths } from "@clawguard/sidecar/paths";
import { Shipper } from "@clawguard/sidecar/sinks/shipper/index";
import { Spool } from "@clawguard/sidecar/sinks/spool/spool";
import { SpillStore } from "@clawguard/sidecar/sources/exec-guard/index";
import { llmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import { LlmGuard } from "@clawguard/sidecar/sources/llm-proxy/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendExpectingContinue } from "../support/expect-continue.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";

/**
 * `Expect: 100-continue`, as curl sends it with any body over 1 MiB: both servers answer 100 and
 * then the request, on every kind of route (the collector's API, the sidecar's control API and its
 * LLM proxy), never a 5xx.
 */

const INGEST = "i".repeat(40);
const SIDECAR = "s".repeat(40);
const source = { agent: "main", role: "agent", host: "test" };
const dir = tempDir("clawguard-continue-");
/** The sidecar's own state (spool, dead letters), outside the workspace as the sidecar requires. */
const stateDir = tempDir("clawguard-continue-state-");
const closers: (() => Promise<unknown>)[] = [];
let collector: Listening;
let sidecar: Listening;
let provider: FakeProvider;

beforeAll(async () => {
  const db = await createEmbeddedDb(join(dir.path, "db"));
  await migrate(db);
  closers.push(() => db.close());
  const store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
  const app = testCollectorApp(db, {
    store,
    ingestTokens: new TokenSet<string>().add(INGEST, "main"),
    readTokens: new TokenSet<string>().add("r".repeat(40), "reader"),
    bodyLimitBytes: 16 * 1024 * 1024,
    blobLimitBytes: 16 * 1024 * 1024,
    maxBatchEvents: 10_000,
    log: silentLogger,
  });
  collector = await listen(app.fetch, "127.0.0.1", 0);
  closers.unshift(() => collector.close());

  provider = await startFakeProvider({ contextWindow: { default: 10_000_000 } });
  closers.unshift(() => provider.close());
  const paths = workspacePaths(dir.path, "main");
  const spool = await Spool.open({
    dir: join(stateDir.path, "spool"),
    maxBytes: 64 * 1024 * 1024,
    segmentBytes: 4 * 1024 * 1024,
    fsync: "never",
    fsyncIntervalMs: 1000,
    log: silentLogger,
  });
  closers.unshift(() => spool.close());
  const bus = new EventBus(spool);
  const spill = new SpillStore(paths.spill);
  const llm = new LlmGuard({
    config: llmProxyConfig.parse({
      providers: { fake: { upstream: `${provider.url}/v1`, api: "openai-completions" } },
      authCheckIntervalMs: 0,
    }),
    env: {},
    spill,
    source,
    bus,
    telemetry: await startTelemetry("test", {}),
    log: silentLogger,
  });
  await llm.start();
  closers.unshift(() => llm.stop());
  const sidecarApp = createSidecarApp({
    agent: "main",
    workspace: dir.path,
    tokens: new TokenSet<string>().add(SIDECAR, "main"),
    bodyLimitBytes: 4 * 1024 * 1024,
    spill,
    spool,
    shipper: new Shipper({
      url: collector.url,
      token: INGEST,
      spool,
      deadLetterFile: join(stateDir.path, "dead-letter.jsonl"),
      batchMaxEvents: 100,
      batchMaxBytes: 1 << 20,
      timeoutMs: 1000,
      backoffMinMs: 100,
      backoffMaxMs: 1000,
      log: silentLogger,
    }),
    log: silentLogger,
  });
  sidecar = await listen(sidecarApp.fetch, "127.0.0.1", 0, llm.handler);
  closers.unshift(() => sidecar.close());
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => {});
  dir.cleanup();
  stateDir.cleanup();
});

/** A batch of `count` chained events, a little over 1 MiB for 3000. */
function batch(count: number): string {
  let head = EMPTY_HEAD;
  const events: AuditEvent[] = [];
  for (let i = 0; i < count; i++) {
    const e = sealEvent(
      draftEvent({ source, type: "exec.completed", attrs: { pad: "x".repeat(300) } }),
      head,
    );
    head = { seq: e.seq, hash: e.hash };
    events.push(e);
  }
  return JSON.stringify({ events });
}

describe("Expect: 100-continue", () => {
  it("the collector answers 100, then takes a 1 MiB+ batch", async () => {
    const body = batch(3000);
    expect(body.length).toBeGreaterThan(1024 * 1024);
    const answer = await sendExpectingContinue(collector.url, {
      method: "POST",
      path: "/v1/events",
      headers: { authorization: `Bearer ${INGEST}`, "content-type": "application/json" },
      body,
    });
    expect(answer).toMatchObject({ interim: 100, status: 200 });
    expect(answer.body).toContain('"accepted":3000');
  });

  it("the sidecar's LLM proxy answers 100, then relays the call (not a 502)", async () => {
    const answer = await sendExpectingContinue(sidecar.url, {
      method: "POST",
      path: "/llm/fake/chat/completions",
      headers: { authorization: "Bearer test-key", "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-test",
        messages: [
          { role: "system", content: "y".repeat(1024 * 1024) },
          { role: "user", content: "ping" },
        ],
      }),
    });
    expect(answer.interim).toBe(100);
    expect(answer.status, answer.body.slice(0, 300)).toBe(200);
  });
});
