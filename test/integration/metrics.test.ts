import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { startCollector } from "@clawguard/collector/main";
import { deleteKeys, redisAvailable, TEST_REDIS } from "@clawguard/collector/store/liveness/test-backends";
import { draftEvent } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { AGENT_FAMILIES } from "@clawguard/shared/metrics/families";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { StatsSink } from "@clawguard/sidecar/sinks/stats/index";
import { afterAll, describe, expect, it } from "vitest";
import { daemon, eventually, tool } from "../support/monitoring.ts";
import { freePort } from "../support/processes.ts";

/**
 * The collector's /metrics as Prometheus sees it: a sidecar's stats (counted by the real StatsSink
 * from llm.request and exec events) go in a heartbeat; a real Prometheus scrapes the collector
 * with the read token, and PromQL reads the values back. promtool lints the exposition. Then a
 * second replica (the same Redis liveness) joins: the dashboard's figures stay the same.
 */

const DASHBOARD = new URL("../../deploy/monitoring/grafana/dashboards/clawguard-fleet.json", import.meta.url);
const INGEST = "i".repeat(40);
const READ = "r".repeat(40);
const dir = tempDir("clawguard-metrics-");
const promtool = tool("/usr/bin/promtool");
const prometheus = tool("/usr/bin/prometheus");
const pg = await postgresAvailable();
const redis = await redisAvailable();
afterAll(() => dir.cleanup());

function statsOfOneAgent() {
  const sink = new StatsSink({ subscribe: () => () => {} } as never, {
    spool: { backlog: 7, bytes: 4096, quarantined: [{}] },
    shipper: { status: { rejected: 2 } },
  });
  const source = { agent: "gw", role: "gateway", host: "h1" };
  const llm = (status: number | null, durationMs: number, errorType: string | null = null) =>
    draftEvent({
      source,
      type: "llm.request",
      severity: "info",
      attrs: {
        provider: "openai",
        model: "gpt-5",
        stream: true,
        status,
        error_type: errorType,
        duration_ms: durationMs,
        ttft_ms: 300,
        input_tokens: 1000,
        output_tokens: 50,
        cache_read_tokens: 800,
      },
    });
  const events = [
    ...Array.from({ length: 18 }, () => llm(200, 1200)),
    llm(500, 400, "server_error"),
    llm(null, 35_000, "network"),
    draftEvent({ source, type: "exec.completed", severity: "info", attrs: { spilled: true } }),
    draftEvent({ source, type: "exec.denied", severity: "warn", attrs: {} }),
    draftEvent({
      source,
      type: "memory.changed",
      severity: "info",
      attrs: { path: "MEMORY.md", size: 5120 },
    }),
  ];
  for (const e of events) sink.count({ ...e, id: "x", seq: 0 } as never);
  return sink.snapshot();
}

/** The same agent later: every count k times what it was (counters only grow). */
function grown(stats: ReturnType<typeof statsOfOneAgent>, k: number) {
  const times = (r: Record<string, number | undefined>) =>
    Object.fromEntries(Object.entries(r).map(([key, v]) => [key, (v ?? 0) * k]));
  const histogram = (h: { buckets: number[]; sum: number; count: number }) => ({
    buckets: h.buckets.map((n) => n * k),
    sum: h.sum * k,
    count: h.count * k,
  });
  return {
    ...stats,
    exec: times(stats.exec),
    llm: stats.llm.map((l) => ({
      ...l,
      calls: times(l.calls),
      errors: times(l.errors),
      latency: histogram(l.latency),
      ttft: histogram(l.ttft),
      inputTokens: l.inputTokens * k,
      outputTokens: l.outputTokens * k,
      cacheReadTokens: l.cacheReadTokens * k,
    })),
  };
}

/** Every `clawguard_*` selector of a query restricted to one scrape target. */
const onInstance = (expr: string, instance: string) =>
  expr.replace(
    /\b(clawguard_[a-z0-9_]+)(\{([^}]*)\})?/g,
    (_, name: string, _braces, inner?: string) =>
      `${name}{instance="${instance}"${inner ? `,${inner}` : ""}}`,
  );

const heartbeat = (url: string, stats: unknown) =>
  fetch(`${url}/v1/heartbeats`, {
    method: "POST",
    headers: { authorization: `Bearer ${INGEST}`, "content-type": "application/json" },
    body: JSON.stringify({
      agent: "gw",
      role: "gateway",
      host: "h1",
      state: "healthy",
      reasons: [],
      probes: [{ name: "gateway", state: "passing" }],
      versions: {},
      configFingerprint: "c".repeat(64),
      intervalMs: 60_000,
      time: new Date().toISOString(),
      stats,
    }),
  });

describe.skipIf(!promtool || !prometheus || !pg || !redis)("collector /metrics", () => {
  it("is scraped by a real Prometheus; PromQL sees each agent's LLM calls, errors, latency and spool", {
    timeout: 60_000,
  }, async () => {
    writeFileSync(join(dir.path, "tokens"), `gw ${INGEST}\n`);
    const db = await createTestDatabase();
    const prefix = `clawguard-metrics-${process.pid}-${Date.now()}:`;
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS,
      CLAWGUARD_REDIS_KEY_PREFIX: prefix,
      CLAWGUARD_COLLECTOR_LISTEN: "127.0.0.1:0",
      CLAWGUARD_COLLECTOR_DATA_DIR: join(dir.path, "data"),
      CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
      CLAWGUARD_READ_TOKEN: READ,
    };
    const collector = await startCollector(loadCollectorConfig(undefined, env, dir.path), env, silentLogger);
    // A second replica, started later on this port (Prometheus scrapes both from the start).
    const replicaAddress = `127.0.0.1:${await freePort()}`;
    let replica: Awaited<ReturnType<typeof startCollector>> | undefined;
    const promPort = await freePort();
    writeFileSync(join(dir.path, "read-token"), READ);
    writeFileSync(
      join(dir.path, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        "scrape_configs:",
        "  - job_name: clawguard",
        `    authorization: { type: Bearer, credentials_file: ${join(dir.path, "read-token")} }`,
        `    static_configs: [{ targets: ["${new URL(collector.url).host}", "${replicaAddress}"] }]`,
      ].join("\n"),
    );
    const server = daemon(prometheus as string, [
      `--config.file=${join(dir.path, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir.path, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    try {
      // Bounded: more series than MAX_LLM_SERIES, or an error class outside the closed set, is refused.
      const stats = statsOfOneAgent();
      const many = {
        ...stats,
        llm: Array.from({ length: 17 }, (_, i) => ({ ...stats.llm[0], model: `m${i}` })),
      };
      expect((await heartbeat(collector.url, many)).status).toBe(400);
      const odd = { ...stats, llm: [{ ...stats.llm[0], errors: { teapot: 1 } }] };
      expect((await heartbeat(collector.url, odd)).status).toBe(400);
      expect((await heartbeat(collector.url, stats)).status).toBe(200);
      // Without the read token: refused.
      expect((await fetch(`${collector.url}/metrics`)).status).toBe(401);
      const text = await (
        await fetch(`${collector.url}/metrics`, { headers: { authorization: `Bearer ${READ}` } })
      ).text();
      // promtool's linter: names, units, help; exits 0 when the exposition is well formed.
      execFileSync(promtool as string, ["check", "metrics"], { input: text });
      expect(text).toContain(
        'clawguard_llm_calls_total{agent="gw",provider="openai",model="gpt-5",status_class="2xx"} 18',
      );
      // One definition for both processes: the collector's per-agent families are the shared ones a
      // sidecar's own GET /metrics writes (names, help, types, order).
      expect(
        [...text.matchAll(/^# HELP (clawguard_(?:agent|llm)_\S+) (.*)\n# TYPE \S+ (\S+)$/gm)].map((m) =>
          m.slice(1),
        ),
      ).toEqual(AGENT_FAMILIES.map((f) => [f.name, f.help, f.type]));

      const query = async (promql: string) => {
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`,
        );
        const body = (await res.json()) as {
          data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        const first = body.data?.result[0];
        return first ? Number(first.value[1]) : undefined;
      };
      const vector = async (promql: string) => {
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`,
        );
        const body = (await res.json()) as {
          status: string;
          data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        expect(body.status, promql).toBe("success");
        return new Map((body.data?.result ?? []).map((r) => [JSON.stringify(r.metric), Number(r.value[1])]));
      };
      expect(await eventually("a scrape", () => query('clawguard_agent_up{agent="gw"}'), 20_000)).toBe(1);
      expect(await query('sum(clawguard_llm_calls_total{agent="gw"})')).toBe(20);
      expect(await query('clawguard_llm_errors_total{agent="gw",class="server_error"}')).toBe(1);
      expect(await query('clawguard_llm_errors_total{agent="gw",class="network"}')).toBe(1);
      expect(await query('clawguard_llm_tokens_total{agent="gw",direction="output"}')).toBe(1000);
      // One call of 35 s: above the 30 s bucket; 19 at or under 1.2 s.
      expect(await query('clawguard_llm_duration_seconds_bucket{agent="gw",le="30"}')).toBe(19);
      expect(await query('clawguard_llm_duration_seconds_count{agent="gw"}')).toBe(20);
      expect(await query('clawguard_agent_spool_backlog_events{agent="gw"}')).toBe(7);
      expect(await query('clawguard_agent_events_set_aside{agent="gw"}')).toBe(3);
      expect(await query('clawguard_agent_exec_denials_total{agent="gw"}')).toBe(1);
      expect(await query('clawguard_agent_memory_file_bytes{agent="gw",file="MEMORY.md"}')).toBe(5120);
      expect(await query('clawguard_agent_probe_passing{agent="gw",probe="gateway"}')).toBe(1);
      expect(await query('clawguard_agent_state{agent="gw",state="healthy"}')).toBe(1);
      expect(await query('clawguard_incidents_open{agent="gw"}')).toBe(0);
      expect(await query('clawguard_heartbeats_total{status="200"}')).toBe(1);
      expect(await query('clawguard_heartbeats_total{status="400"}')).toBe(2);

      // The Grafana dashboard: every panel's query is valid PromQL (Prometheus parses it) and names
      // only metrics the collector exports (a histogram's by its _bucket, _sum, _count).
      const exported = new Set(
        [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
          type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string],
        ),
      );
      const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
        panels: { title: string; targets: { expr: string }[] }[];
      };
      const exprs = dashboard.panels.flatMap((p) =>
        p.targets.map((t) => ({
          panel: p.title,
          expr: t.expr.replaceAll("$__rate_interval", "1m").replaceAll("$agent", ".*"),
        })),
      );
      expect(exprs.length).toBeGreaterThanOrEqual(20);
      for (const { panel, expr } of exprs) {
        for (const [name] of expr.matchAll(/\bclawguard_[a-z0-9_]+/g))
          expect(exported, `${panel}: ${name}`).toContain(name);
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`,
        );
        expect(((await res.json()) as { status: string }).status, `${panel}: ${expr}`).toBe("success");
      }

      // A second replica on the same liveness: both export the fleet. The sidecar's counts grow
      // (one heartbeat a second); every fleet panel shows what one replica alone shows, not twice it.
      replica = await startCollector(
        loadCollectorConfig(undefined, { ...env, CLAWGUARD_COLLECTOR_LISTEN: replicaAddress }, dir.path),
        env,
        silentLogger,
      );
      for (let k = 2; k <= 8; k++) {
        expect((await heartbeat(collector.url, grown(stats, k))).status).toBe(200);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await eventually("both replicas scraped", async () =>
        (await query('count(clawguard_agent_up{agent="gw"})')) === 2 ? true : undefined,
      );
      const one = new URL(collector.url).host;
      const fleetOnly = exprs.filter(
        ({ expr }) => !/clawguard_(ingest|heartbeats|notifications)_/.test(expr),
      );
      expect(fleetOnly.length).toBeGreaterThanOrEqual(15);
      for (const { panel, expr } of fleetOnly) {
        const both = await vector(expr);
        const alone = await vector(onInstance(expr, one));
        expect([...both.keys()].sort(), `${panel}: ${expr}`).toEqual([...alone.keys()].sort());
        // A quantile is the same whether its buckets are counted once or twice: nothing to compare,
        // and over a 1 m window of few samples the two replicas' scrape times moved it 2.5 -> 30 s.
        if (/histogram_quantile/.test(expr)) continue;
        // A heartbeat's age is the time since it at each replica's own scrape: a second or two
        // apart, so at ages of a second or two the ratio says nothing (2.58 in a loaded CI run).
        if (/heartbeat_age_seconds/.test(expr)) continue;
        for (const [labels, value] of alone) {
          const ratio = value === 0 ? (both.get(labels) === 0 ? 1 : 2) : (both.get(labels) ?? 0) / value;
          // Rates of the two replicas' scrapes differ a little (their own scrape times); twice is a double count.
          expect(ratio, `${panel}: ${expr} ${labels}: ${both.get(labels)} vs ${value}`).toBeGreaterThan(0.9);
          expect(ratio, `${panel}: ${expr} ${labels}: ${both.get(labels)} vs ${value}`).toBeLessThan(1.5);
        }
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\nprometheus said:\n${server.output().slice(-3000)}`);
    } finally {
      await server.stop();
      await replica?.stop();
      await collector.stop();
      await deleteKeys(prefix);
      await db.drop();
    }
  });
});
