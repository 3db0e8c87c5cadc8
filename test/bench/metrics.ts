import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { deleteKeys } from "@clawguard/collector/store/liveness/test-backends";
import { silentLogger } from "@clawguard/shared/log";
import {
  LATENCY_BUCKETS_S,
  LLM_ERROR_CLASSES,
  MAX_LLM_SERIES,
  MAX_MEMORY_FILES,
  type SidecarStats,
  STATUS_CLASSES,
} from "@clawguard/shared/stats";
import { createTestDatabase, tempDir } from "@clawguard/shared/testing";
import { type Figure, progress } from "./report.ts";

/**
 * GET /metrics of a collector holding N agents whose heartbeats carry the most the collector takes
 * (16 provider/model pairs with every status and error class, 20 memory files of long names, 20
 * probes): the exposition's size and series, the scrape's time, and the collector's event-loop delay
 * during the scrape (perf_hooks.monitorEventLoopDelay in the collector's own process: the time ingest
 * and /readyz wait). The collector runs in this process, on PostgreSQL, with in-process liveness.
 */

const tokenOf = (agent: string) => agent.padEnd(40, "t");
const READ = "r".repeat(40);

/** The most one heartbeat's stats may hold. */
export function heaviestStats(agent: number): SidecarStats {
  const histogram = (n: number) => ({
    buckets: LATENCY_BUCKETS_S.map((_, i) => n * (i + 1)),
    sum: n * 7.5,
    count: n * (LATENCY_BUCKETS_S.length + 1),
  });
  return {
    spoolBacklog: agent % 13,
    spoolBytes: 4096,
    setAside: 0,
    shipperFailingSeconds: 0,
    exec: { runs: 100, spills: 3, denials: 1, failures: 2 },
    memoryOversize: 0,
    memoryBytes: Object.fromEntries(
      Array.from({ length: MAX_MEMORY_FILES }, (_, i) => [
        `memory/daily/${"notes-of-a-long-running-project-".repeat(4)}${String(i).padStart(3, "0")}.md`,
        1000 * (i + 1),
      ]),
    ),
    llm: Array.from({ length: MAX_LLM_SERIES }, (_, j) => ({
      provider: `provider-${j % 4}`,
      model: `vendor/a-model-with-a-rather-long-deployment-name-${"x".repeat(40)}-${j}`,
      calls: Object.fromEntries(STATUS_CLASSES.map((c, i) => [c, 100 + i])),
      errors: Object.fromEntries(LLM_ERROR_CLASSES.map((c, i) => [c, 1 + i])),
      latency: histogram(10 + j),
      ttft: histogram(5 + j),
      inputTokens: 100_000,
      outputTokens: 5000,
      cacheReadTokens: 70_000,
    })),
  };
}

const heartbeatOf = (agent: string, i: number) => ({
  agent,
  role: i % 10 === 0 ? "gateway" : "sub-agent",
  host: `host-${i % 50}`,
  state: "healthy",
  reasons: [],
  probes: Array.from({ length: 20 }, (_, p) => ({ name: `probe-${p}`, state: "passing" })),
  versions: {},
  configFingerprint: "c".repeat(64),
  intervalMs: 60_000,
  time: new Date().toISOString(),
  stats: heaviestStats(i),
});

function curl(url: string, token: string): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sS", "--max-time", "60", "-H", `authorization: Bearer ${token}`, url]);
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ stdout: Buffer.concat(chunks).toString("utf8"), code }));
  });
}

export interface ScrapeFigures {
  agents: number;
  bytes: number;
  samples: number;
  scrapeMs: number;
  loopMaxMs: number;
  loopP99Ms: number;
  /** The loop's longest wait in 2 s of idling before the scrapes: the machine's own noise. */
  idleMaxMs: number;
}

/** One collector with `agents` heaviest agents, scraped `scrapes` times (the first one alone measured too). */
export async function measureScrapes(
  agents: number,
  scrapes = 3,
  inspect?: (text: string) => void,
  redisUrl?: string,
): Promise<ScrapeFigures[]> {
  const dir = tempDir("clawguard-bench-metrics-");
  const db = await createTestDatabase();
  const names = Array.from({ length: agents }, (_, i) => `agent-${String(i).padStart(4, "0")}`);
  writeFileSync(join(dir.path, "tokens"), names.map((n) => `${n} ${tokenOf(n)}`).join("\n"));
  const env = {
    DATABASE_URL: db.url,
    CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
    CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
    CLAWGUARD_READ_TOKEN: READ,
    ...(redisUrl
      ? { REDIS_URL: redisUrl, CLAWGUARD_REDIS_KEY_PREFIX: `clawguard-bench-${process.pid}-${Date.now()}:` }
      : {}),
  };
  const collector = await startCollector(loadCollectorConfig(undefined, env, dir.path), env, silentLogger);
  try {
    for (let i = 0; i < agents; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map(async (name, j) => {
          const res = await fetch(`${collector.url}/v1/heartbeats`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokenOf(name)}`, "content-type": "application/json" },
            body: JSON.stringify(heartbeatOf(name, i + j)),
          });
          if (res.status !== 200) throw new Error(`heartbeat ${name}: ${res.status} ${await res.text()}`);
        }),
      );
    }
    const idle = monitorEventLoopDelay({ resolution: 5 });
    idle.enable();
    await new Promise((r) => setTimeout(r, 2000));
    idle.disable();
    progress(
      `  idle 2 s before the scrapes: event-loop delay max ${(idle.max / 1e6).toFixed(1)} ms (the machine's noise)`,
    );
    const figures: ScrapeFigures[] = [];
    for (let s = 0; s < scrapes; s++) {
      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      const started = performance.now();
      // curl, another process: this one's event loop is the collector's alone.
      const { stdout: text, code } = await curl(`${collector.url}/metrics`, READ);
      const scrapeMs = performance.now() - started;
      loop.disable();
      if (code !== 0 || !text.startsWith("# HELP"))
        throw new Error(`/metrics: curl ${code}: ${text.slice(0, 200)}`);
      inspect?.(text);
      figures.push({
        agents,
        bytes: Buffer.byteLength(text),
        samples: text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length,
        scrapeMs,
        loopMaxMs: loop.max / 1e6,
        loopP99Ms: loop.percentile(99) / 1e6,
        idleMaxMs: idle.max / 1e6,
      });
      await new Promise((r) => setTimeout(r, 2500)); // past any cache
    }
    return figures;
  } finally {
    if (redisUrl) await deleteKeys(env.CLAWGUARD_REDIS_KEY_PREFIX as string);
    await collector.stop();
    await db.drop();
    dir.cleanup();
  }
}

export async function benchMetrics(agentCounts: number[], redisUrl?: string): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const agents of agentCounts) {
    progress(`metrics: ${agents} agents${redisUrl ? " (liveness in Redis)" : ""}`);
    const runs = await measureScrapes(agents, 3, undefined, redisUrl);
    for (const r of runs)
      progress(
        `  ${r.bytes} bytes, ${r.samples} samples, scrape ${r.scrapeMs.toFixed(0)} ms, loop delay max ${r.loopMaxMs.toFixed(1)} ms (p99 ${r.loopP99Ms.toFixed(1)} ms)`,
      );
    const worst = runs.reduce((a, b) => (b.loopMaxMs > a.loopMaxMs ? b : a));
    figures.push({
      name: `/metrics, ${agents} heaviest agents: event-loop delay during a scrape (max of ${runs.length})`,
      value: `${worst.loopMaxMs.toFixed(0)} ms (${(worst.bytes / 1e6).toFixed(1)} MB, ${worst.samples} samples, scrape ${worst.scrapeMs.toFixed(0)} ms)`,
      anchor: `idle: ${worst.idleMaxMs.toFixed(0)} ms`,
      ratio: (worst.loopMaxMs / Math.max(1, worst.idleMaxMs)).toFixed(1),
      target: "<= 50 ms",
      pass: worst.loopMaxMs <= 50,
    });
  }
  return figures;
}
