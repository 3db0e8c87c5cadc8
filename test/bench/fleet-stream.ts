import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { silentLogger } from "@clawguard/shared/log";
import { createTestDatabase, tempDir } from "@clawguard/shared/testing";
import { heaviestStats } from "./metrics.ts";
import { type Figure, progress } from "./report.ts";

/**
 * GET /v1/fleet/stream (the fleet page's live updates) with N agents as heavy as the collector
 * takes (16 models, 20 memory files, 25 probes) while a few of them (`changing`) send a heartbeat
 * every 2 s (the stream's tick): the bytes one open page receives in a minute, its events, and the
 * first event's size (what a page waits for before it shows anything).
 */

const tokenOf = (agent: string) => agent.padEnd(40, "t");
const READ = "r".repeat(40);
const heartbeatOf = (agent: string, i: number, state = "healthy") => ({
  agent,
  role: i % 10 === 0 ? "gateway" : "sub-agent",
  host: `host-${i % 50}`,
  state,
  reasons: state === "healthy" ? [] : [`gateway: HTTP 503 from /readyz (${Date.now()})`],
  probes: Array.from({ length: 25 }, (_, p) => ({ name: `probe-${p}`, state: "passing" })),
  versions: {},
  configFingerprint: "c".repeat(64),
  intervalMs: 60_000,
  time: new Date().toISOString(),
  stats: heaviestStats(i),
});

export interface StreamFigures {
  agents: number;
  seconds: number;
  bytes: number;
  events: number;
  /** Of `events`, those that were the full view. */
  fullViews: number;
  firstBytes: number;
}

/** Reads the stream for `seconds`, counting bytes and events, while `changing` agents beat per 2 s. */
export async function measureStream(
  agents: number,
  changing: number,
  seconds: number,
): Promise<StreamFigures> {
  const dir = tempDir("clawguard-bench-stream-");
  const db = await createTestDatabase();
  const names = Array.from({ length: agents }, (_, i) => `agent-${String(i).padStart(4, "0")}`);
  writeFileSync(join(dir.path, "tokens"), names.map((n) => `${n} ${tokenOf(n)}`).join("\n"));
  const env = {
    DATABASE_URL: db.url,
    CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
    CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
    CLAWGUARD_READ_TOKEN: READ,
  };
  const collector = await startCollector(loadCollectorConfig(undefined, env, dir.path), env, silentLogger);
  const beat = async (i: number, state?: string) => {
    const name = names[i] as string;
    const res = await fetch(`${collector.url}/v1/heartbeats`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenOf(name)}`, "content-type": "application/json" },
      body: JSON.stringify(heartbeatOf(name, i, state)),
    });
    if (res.status !== 200) throw new Error(`heartbeat ${name}: ${res.status} ${await res.text()}`);
  };
  const abort = new AbortController();
  try {
    for (let i = 0; i < agents; i += 50) await Promise.all(names.slice(i, i + 50).map((_, j) => beat(i + j)));
    const res = await fetch(`${collector.url}/v1/fleet/stream`, {
      headers: { authorization: `Bearer ${READ}` },
      signal: abort.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const figures = { agents, seconds, bytes: 0, events: 0, fullViews: 0, firstBytes: 0 };
    const until = Date.now() + seconds * 1000;
    let next = 0;
    const changes = setInterval(() => {
      for (let k = 0; k < changing; k++, next++)
        void beat((next * 37) % agents, next % 2 ? "degraded" : "healthy").catch(() => {});
    }, 2000);
    const stop = setTimeout(() => abort.abort(), seconds * 1000);
    try {
      // Events counted by their `event:` line (a chunk's last bytes kept: a line may be split).
      let firstDone = false;
      for (let tail = ""; Date.now() < until; ) {
        const { value, done } = await reader.read();
        if (done) break;
        figures.bytes += value.byteLength;
        const text = tail + Buffer.from(value).toString("latin1");
        const full = text.split("event: fleet\n").length - 1;
        figures.events += full + text.split("event: delta\n").length - 1;
        if (!firstDone) figures.firstBytes += value.byteLength;
        firstDone ||= figures.events > 0 && text.includes("\n\n");
        figures.fullViews += full;
        tail = text.slice(-16);
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      clearInterval(changes);
      clearTimeout(stop);
    }
    return figures;
  } finally {
    abort.abort();
    await collector.stop();
    await db.drop();
    dir.cleanup();
  }
}

export async function benchFleetStream(agentCounts: number[], changing = 3, seconds = 60): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const agents of agentCounts) {
    progress(`fleet stream: ${agents} heaviest agents, ${changing} changing every 2 s, ${seconds} s`);
    const f = await measureStream(agents, changing, seconds);
    const perMinute = (f.bytes / f.seconds) * 60;
    progress(
      `  ${f.bytes} bytes in ${f.events} events (${f.fullViews} full views) over ${f.seconds} s, first event ${f.firstBytes} bytes`,
    );
    figures.push({
      name: `/v1/fleet/stream, ${agents} heaviest agents, ${changing} changing per 2 s: bytes a minute to one page`,
      value: `${(perMinute / 1e6).toFixed(2)} MB (${f.events} events, ${f.fullViews} full)`,
      anchor: `first event (the full view): ${(f.firstBytes / 1e6).toFixed(2)} MB`,
      ratio: (perMinute / Math.max(1, f.firstBytes)).toFixed(1),
      target: "<= 2 full views a minute",
      pass: perMinute <= 2 * f.firstBytes,
    });
  }
  return figures;
}
