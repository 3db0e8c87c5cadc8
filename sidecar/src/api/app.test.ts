import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import { AGENT_FAMILIES, type AgentSample } from "@clawguard/shared/metrics/families";
import { labelValue, MAX_LABEL_CHARS } from "@clawguard/shared/metrics/label";
import { emptyHistogram, type SidecarStats } from "@clawguard/shared/stats";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { workspacePaths } from "../paths.ts";
import { Shipper } from "../sinks/shipper/index.ts";
import { Spool } from "../sinks/spool/spool.ts";
import { execGuardConfig } from "../sources/exec-guard/config.ts";
import { createExecGuard, SpillStore } from "../sources/exec-guard/index.ts";
import { proberConfig } from "../sources/prober/config.ts";
import { type Health, Prober } from "../sources/prober/index.ts";
import { createSidecarApp } from "./app.ts";

const TOKEN = "test-token-0123456789abcdef";
const BODY_LIMIT = 4096;
const source = { agent: "main", role: "agent", host: "test-host" };

let tmp: ReturnType<typeof tempDir>;
let spool: Spool;
let shipper: Shipper;
let app: ReturnType<typeof createSidecarApp>;
let paths: ReturnType<typeof workspacePaths>;
let guard: ReturnType<typeof createExecGuard>;

/** Builds the app the way main.ts does, from real parts; the shipper is never started. */
type Clock = { offsetMs: number; rttMs: number; measuredAt: string; skewed: boolean } | undefined;

async function build(
  options: {
    spoolMaxBytes?: number;
    clock?: () => Clock;
    metricsAgent?: () => AgentSample;
    health?: () => Health;
  } = {},
) {
  paths = workspacePaths(tmp.path, "main");
  spool = await Spool.open({
    dir: join(tmp.path, ".state", "spool"),
    maxBytes: options.spoolMaxBytes ?? 16 * 1024 * 1024,
    segmentBytes: 1024 * 1024,
    fsync: "always",
    fsyncIntervalMs: 1000,
    log: silentLogger,
  });
  const spill = new SpillStore(paths.spill, tmp.path);
  shipper = new Shipper({
    url: "http://127.0.0.1:9",
    token: "ingest",
    spool,
    deadLetterFile: join(tmp.path, ".state", "dead-letter.jsonl"),
    batchMaxEvents: 100,
    batchMaxBytes: 1 << 20,
    timeoutMs: 1000,
    backoffMinMs: 100,
    backoffMaxMs: 1000,
    log: silentLogger,
  });
  guard = createExecGuard({
    source,
    spill,
    config: execGuardConfig.parse({ maxBytes: 1000, previewBytes: 600, timeoutMs: 10_000 }),
    readCommand: "clawguard read",
  });
  app = createSidecarApp({
    agent: "main",
    workspace: tmp.path,
    tokens: new TokenSet<string>().add(TOKEN, "main"),
    bodyLimitBytes: BODY_LIMIT,
    spill,
    spool,
    shipper,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.metricsAgent ? { metricsAgent: options.metricsAgent } : {}),
    ...(options.health ? { health: options.health } : {}),
    log: silentLogger,
  });
}

beforeEach(() => {
  tmp = tempDir("clawguard-api-");
});

afterEach(async () => {
  await shipper?.stop();
  await spool?.close();
  tmp.cleanup();
});

const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, "content-type": "application/json" };

async function expectError(res: Response, status: number, code: string, message: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).toMatch(message);
}

async function storedEvents(): Promise<AuditEvent[]> {
  return (await spool.read(0, 1000, 1 << 30)).map((e) => JSON.parse(e.json) as AuditEvent);
}

describe("sidecar API: health", () => {
  beforeEach(() => build());

  it("answers /healthz without a token", async () => {
    const res = await app.request("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, status: "live", agent: "main" });
  });

  it("answers /readyz with the spool's state", async () => {
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      ready: true,
      failing: [],
      agent: "main",
      spool: { backlog: 0, head: 0, acked: 0 },
      shipper: { state: "idle" },
    });
  });

  it("answers 404 as JSON for an unknown route", async () => {
    await expectError(await app.request("/nope", { headers: auth }), 404, "not_found", /GET \/nope/);
  });
});

describe("sidecar API: readiness without health checks", () => {
  it("says why the agent's state is unknown when no health check is configured", async () => {
    const prober = new Prober({
      config: proberConfig.parse({}),
      env: {},
      source: { agent: "main", role: "agent", host: "test" },
      publish: async () => {},
      log: silentLogger,
    });
    await build({ health: () => prober.health() });
    expect(await (await app.request("/readyz")).json()).toMatchObject({
      ready: true,
      status: "unknown",
      reasons: [
        "no health checks configured: set probe.probes (an http probe of the gateway, a chat probe) to know the agent's state",
      ],
    });
  });
});

describe("sidecar API: readiness with a clock off from the collector's", () => {
  it("flags the offset beyond the threshold, and stays ready", async () => {
    let clock: Clock;
    await build({ clock: () => clock });
    expect(await (await app.request("/readyz")).json()).not.toHaveProperty("clock");
    clock = { offsetMs: -3_600_000, rttMs: 3, measuredAt: "2026-12-07T00:00:00.000Z", skewed: true };
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ready: true, warnings: ["clock_skew"], clock });
    clock = { ...clock, offsetMs: 40, skewed: false };
    const body = (await (await app.request("/readyz")).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ clock });
    expect(body).not.toHaveProperty("warnings");
  });
});

describe("sidecar API: readiness with events set aside", () => {
  it("reports the dead-letter file's events as degraded, and stays ready", async () => {
    const file = join(tmp.path, ".state", "dead-letter.jsonl");
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, '{"errors":["x"],"event":null}\n{"errors":["y"],"event":null}\n');
    await build();
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ready: boolean; degraded: string[]; shipper: { rejected: number } };
    expect(body.ready).toBe(true);
    expect(body.shipper.rejected).toBe(2);
    expect(body.degraded).toEqual([expect.stringMatching(/^dead_letter: 2 event\(s\)/)]);
  });
});

describe("sidecar API: readiness when the spool is full", () => {
  it("is not ready when the spool is nearly full", async () => {
    await build({ spoolMaxBytes: 100 }); // less than the segment header alone
    const res = await app.request("/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, failing: ["spool_full"] });
  });
});

describe("sidecar API: auth", () => {
  beforeEach(() => build());
  const spillUrl = "/v1/spill/01ARZ3NDEKTSV4RRFFQ69G5FAV";

  it("refuses /v1 without a token, naming what is missing", async () => {
    await expectError(await app.request(spillUrl), 401, "auth.missing", /missing Authorization header/);
  });

  it("refuses a wrong or malformed token", async () => {
    for (const [authorization, message] of [
      ["Bearer wrong", /invalid token/],
      [`Basic ${TOKEN}`, /malformed Authorization header/],
      [`Bearer ${TOKEN}x`, /invalid token/],
    ] as const) {
      await expectError(
        await app.request(spillUrl, { headers: { authorization } }),
        401,
        "auth.invalid",
        message,
      );
    }
  });
});

describe("sidecar API: GET /metrics", () => {
  const stats: SidecarStats = {
    spoolBacklog: 7,
    spoolBytes: 4096,
    setAside: 0,
    shipperFailingSeconds: 0,
    exec: { runs: 3, spills: 1, denials: 0, failures: 0 },
    memoryBytes: { "MEMORY.md": 5120 },
    llm: [
      {
        provider: "openai",
        model: 'gpt-"5"',
        calls: { "2xx": 2, "5xx": 1 },
        errors: { server_error: 1 },
        latency: { buckets: emptyHistogram().buckets.map((_, i) => (i < 3 ? 1 : 3)), sum: 4.5, count: 3 },
        ttft: emptyHistogram(),
        inputTokens: 1000,
        outputTokens: 50,
        cacheReadTokens: 800,
      },
    ],
  };
  const agent = (): AgentSample => ({
    agent: "main",
    role: "agent",
    state: "degraded",
    stale: false,
    probes: [
      { name: "gateway", state: "passing" },
      { name: "disk", state: "unknown" },
    ],
    lastSeen: new Date().toISOString(),
    clockOffset: { offsetMs: -1500 },
    stats,
  });

  it("serves its own agent's series, with the sidecar token, in the shared families (the collector's)", async () => {
    await build({ metricsAgent: agent });
    await expectError(await app.request("/metrics"), 401, "auth.missing", /missing Authorization header/);
    const res = await app.request("/metrics", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    // Every per-agent family, in order, with the help and type the collector's /metrics gives it.
    expect([...text.matchAll(/^# HELP (\S+) (.*)\n# TYPE \S+ (\S+)$/gm)].map((m) => m.slice(1))).toEqual(
      AGENT_FAMILIES.map((f) => [f.name, f.help, f.type]),
    );
    for (const line of [
      'clawguard_agent_state{agent="main",role="agent",state="degraded"} 1',
      'clawguard_agent_up{agent="main",role="agent"} 1',
      'clawguard_agent_probe_passing{agent="main",role="agent",probe="gateway"} 1',
      'clawguard_agent_clock_offset_seconds{agent="main",role="agent"} -1.5',
      'clawguard_agent_memory_file_bytes{agent="main",role="agent",file="MEMORY.md"} 5120',
      'clawguard_agent_exec_spills_total{agent="main",role="agent"} 1',
      'clawguard_llm_calls_total{agent="main",provider="openai",model="gpt-\\"5\\"",status_class="5xx"} 1',
      'clawguard_llm_duration_seconds_bucket{agent="main",provider="openai",model="gpt-\\"5\\"",le="0.5"} 1',
      'clawguard_llm_duration_seconds_bucket{agent="main",provider="openai",model="gpt-\\"5\\"",le="+Inf"} 3',
      'clawguard_llm_duration_seconds_sum{agent="main",provider="openai",model="gpt-\\"5\\""} 4.5',
      'clawguard_llm_tokens_total{agent="main",provider="openai",model="gpt-\\"5\\"",direction="cache_read"} 800',
    ])
      expect(text.split("\n")).toContain(line);
    expect(text).toMatch(/^clawguard_agent_heartbeat_age_seconds\{agent="main",role="agent"\} [\d.]+$/m);
    // A probe whose state is unknown has no series; an absent figure (memoryOversize) no sample.
    expect(text).not.toContain('probe="disk"');
    expect(text).not.toMatch(/^clawguard_agent_memory_oversize_files\{/m);
    // promtool's linter, where installed: the exposition is well formed.
    if (existsSync("/usr/bin/promtool"))
      execFileSync("/usr/bin/promtool", ["check", "metrics"], { input: text });
  });

  it("cuts long label values as the collector's /metrics does (64 characters, a hash), two staying two", async () => {
    const long = (c: string) => `${"m".repeat(200)}${c}`;
    const base = stats.llm[0] as SidecarStats["llm"][number];
    const longStats: SidecarStats = {
      ...stats,
      memoryBytes: { [`memory/${"d".repeat(300)}.md`]: 1 },
      llm: [
        { ...base, model: long("a") },
        { ...base, model: long("b") },
      ],
    };
    await build({
      metricsAgent: () => ({
        ...agent(),
        probes: [{ name: "p".repeat(100), state: "passing" }],
        stats: longStats,
      }),
    });
    const text = await (await app.request("/metrics", { headers: auth })).text();
    const values = [...text.matchAll(/(?:model|file|probe)="([^"]*)"/g)].map((m) => m[1] as string);
    expect(values.length).toBeGreaterThan(10);
    for (const v of values) expect(v.length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
    const models = new Set([...text.matchAll(/model="([^"]*)"/g)].map((m) => m[1]));
    expect(models).toEqual(new Set([labelValue(long("a")), labelValue(long("b"))]));
    expect(models.size).toBe(2);
    expect(text).not.toContain("m".repeat(65));
  });

  it("has no /metrics when main.ts gives it no agent to show", async () => {
    await build();
    expect((await app.request("/metrics", { headers: auth })).status).toBe(404);
  });
});

describe("sidecar API: spill reads", () => {
  beforeEach(() => build());

  it("pages through a spill with GET /v1/spill/:id, redacted", async () => {
    const result = await guard.run({
      argv: ["seq", "1", "2000"],
      cwd: tmp.path,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
    const id = result.outcome?.spilled ? result.outcome.id : "";
    expect(id).toMatch(/^[0-9A-Z]{26}$/);
    const lines = await app.request(`/v1/spill/${id}?lines=10:12`, { headers: auth });
    expect(lines.status).toBe(200);
    expect(await lines.text()).toBe(
      `10\n11\n12\n[clawguard] lines 10-12; next: clawguard read ${id} --lines 13:15\n`,
    );
    const bytes = await app.request(`/v1/spill/${id}?offset=0&limit=4`, { headers: auth });
    expect(bytes.headers.get("x-clawguard-total-bytes")).toBe(String(result.outcome?.bytes));
    expect(bytes.headers.get("x-clawguard-next-offset")).toBe("4");
    expect((await bytes.text()).startsWith("1\n2\n")).toBe(true);
    const grep = await app.request(`/v1/spill/${id}?grep=${encodeURIComponent("^199\\d$")}`, {
      headers: auth,
    });
    expect(await grep.text()).toBe(
      Array.from({ length: 10 }, (_, i) => `${1990 + i}: ${1990 + i}\n`).join("") +
        "[clawguard] 10 matching lines\n",
    );
  });

  it("runs no command for anyone: POST /v1/exec does not exist, with or without the token", async () => {
    const marker = join(tmp.path, "marker");
    for (const headers of [json, { "content-type": "application/json" }]) {
      const res = await app.request("/v1/exec", {
        method: "POST",
        headers,
        body: JSON.stringify({ argv: ["touch", marker] }),
      });
      expect([401, 404]).toContain(res.status);
    }
    expect(readdirSync(tmp.path)).not.toContain("marker");
    expect(await storedEvents()).toEqual([]);
  });
});

describe("sidecar API: GET /v1/spill/:id input", () => {
  beforeEach(() => build());

  it("reads no spill through a linked spill folder (the agent planted .clawguard/spill)", async () => {
    const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const outside = tempDir("clawguard-api-outside-");
    try {
      writeFileSync(join(outside.path, `${id}.out`), "outside the workspace\n");
      mkdirSync(paths.root, { recursive: true });
      symlinkSync(outside.path, paths.spill);
      const res = await app.request(`/v1/spill/${id}`, { headers: auth });
      expect(res.status).toBe(400);
      expect(await res.text()).not.toContain("outside the workspace");
      // Nor does the sidecar write a spill there (the LLM proxy spills tool outputs).
      await expect(
        new SpillStore(paths.spill, tmp.path).create("01ARZ3NDEKTSV4RRFFQ69G5FAW"),
      ).rejects.toThrow(/symbolic link/);
      expect(readdirSync(outside.path)).toEqual([`${id}.out`]);
    } finally {
      outside.cleanup();
    }
  });

  it("refuses ids that try to leave the spill directory", async () => {
    for (const id of ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "x".repeat(500), "%00"]) {
      const res = await app.request(`/v1/spill/${id}`, { headers: auth });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const body = (await res.json()) as { error: { code: string } };
      expect(["input.invalid", "not_found"]).toContain(body.error.code);
    }
    await expectError(
      await app.request("/v1/spill/..%2F..%2Fetc%2Fpasswd", { headers: auth }),
      400,
      "input.invalid",
      /not a spill id: "..\/..\/etc\/passwd"/,
    );
  });

  it("answers 404 for a well-formed id with no spill", async () => {
    await expectError(
      await app.request("/v1/spill/01ARZ3NDEKTSV4RRFFQ69G5FAV", { headers: auth }),
      404,
      "not_found",
      /no spill 01ARZ3NDEKTSV4RRFFQ69G5FAV/,
    );
  });

  it("refuses bad paging parameters, naming them", async () => {
    const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    await expectError(
      await app.request(`/v1/spill/${id}?offset=-1`, { headers: auth }),
      400,
      "input.invalid",
      /^offset: /,
    );
    await expectError(
      await app.request(`/v1/spill/${id}?limit=abc`, { headers: auth }),
      400,
      "input.invalid",
      /^limit: /,
    );
    await expectError(
      await app.request(`/v1/spill/${id}?lines=5:1`, { headers: auth }),
      400,
      "input.invalid",
      /^--lines: /,
    );
    await expectError(
      await app.request(`/v1/spill/${id}?grep=x&maxMatches=99999`, { headers: auth }),
      400,
      "input.invalid",
      /^maxMatches: /,
    );
  });
});
