import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";
import { SpillStore } from "@clawguard/sidecar/sources/exec-guard/spill";
import { openAiChat } from "@clawguard/sidecar/sources/llm-proxy/openai-chat";
import { tokenizerFor } from "@clawguard/sidecar/sources/llm-proxy/tokenizer";
import { spillToolOutput } from "@clawguard/sidecar/sources/llm-proxy/tool-output";
import { trimConversation } from "@clawguard/sidecar/sources/llm-proxy/trim";
import { Pool } from "undici";
import { CLI, freePort } from "../support/processes.ts";
import { imageEnv, SEALED } from "./image-env.ts";
import { type Figure, median, progress } from "./report.ts";

/**
 * The context guard's proxy vs a direct connection to the provider, vs nginx as a reverse proxy and
 * vs the floor for a proxy in Node (floor-proxy.ts: node:http and undici's dispatch, nothing else),
 * all against the same local provider in one run: added latency (p50, p99) and throughput for
 * small non-streaming calls at 50 concurrent, and time to first byte of streaming calls. Then the
 * time to trim a 1M-token conversation, beside the time to parse and serialize it.
 */

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p));
const CONCURRENCY = 50;
const SMALL = JSON.stringify({ model: "gpt-4.1", messages: [{ role: "user", content: "hello" }] });
const STREAM = JSON.stringify({
  model: "gpt-4.1",
  messages: [{ role: "user", content: "hello" }],
  stream: true,
});

interface Target {
  name: string;
  origin: string;
  path: string;
}

interface Load {
  p50: number;
  p99: number;
  rps: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * `requests` calls over CONCURRENCY connections, each connection on its own loop; latency per
 * call. With `rate` (calls/s in all) each loop is paced, so latency is measured below saturation;
 * without, each loop sends as fast as answers come back (throughput).
 */
async function load(target: Target, requests: number, rate?: number): Promise<Load> {
  const pool = new Pool(target.origin, { connections: CONCURRENCY, pipelining: 1 });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const gapMs = rate ? (CONCURRENCY * 1000) / rate : 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      let due = performance.now() + (gapMs * worker) / CONCURRENCY;
      while (next < requests) {
        next++;
        if (gapMs > 0) {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          due += gapMs;
        }
        const t0 = performance.now();
        const res = await pool.request({
          path: target.path,
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer test-key" },
          body: SMALL,
        });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${target.name}: HTTP ${res.statusCode}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rps: requests / seconds };
}

/** Time to the first byte of a streaming call, one call at a time. */
async function ttfb(target: Target, requests: number): Promise<number> {
  const pool = new Pool(target.origin, { connections: 1 });
  const times: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    const res = await pool.request({
      path: target.path,
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer test-key" },
      body: STREAM,
    });
    let first = true;
    for await (const _ of res.body) {
      if (first) times.push(performance.now() - t0);
      first = false;
    }
  }
  await pool.close();
  return median(times);
}

function started(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}) before it started`)));
  });
}

async function answering(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: its process exited (${child.exitCode})`);
    try {
      if ((await fetch(url, { headers: { authorization: "Bearer test-key" } })).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}: not answering after 30 s`);
}

function nginxConf(dir: string, port: number, upstream: URL): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream provider { server ${upstream.host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
}

/** What one run measured: per target its paced and flat-out loads and first bytes (medians of rounds). */
interface RunResult {
  load: Record<string, Load>;
  ttfb: Record<string, number>;
  /** CPU (user + system) per call flat out, in microseconds, of the proxy's own processes. */
  cpuUs: Record<string, number>;
  /** What the stall probe saw during each target's paced rounds (all three together). */
  stalls: Record<string, Stalls>;
}

/** Wake-ups of the idle stall probe that came 4 ms or more late, and the latest of them. */
interface Stalls {
  count: number;
  longestMs: number;
}

/**
 * The stall probe (stall-probe.ts), started: `within(from, to)` is what it saw between two epoch
 * times. Its lines come in as it prints them.
 */
async function startStallProbe(children: ChildProcess[]): Promise<(from: number, to: number) => Stalls> {
  const probe = spawn(process.execPath, [fileURLToPath(new URL("./stall-probe.ts", import.meta.url))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(probe);
  const seen: Array<[number, number]> = [];
  createInterface({ input: probe.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const [at, late] = line.split(" ").map(Number);
    if (late !== undefined) seen.push([at as number, late]);
  });
  await started(probe, "the stall probe");
  return (from, to) => {
    const inside = seen.filter(([at]) => at >= from && at <= to).map(([, late]) => late);
    return { count: inside.length, longestMs: Math.max(0, ...inside) };
  };
}

const epochNow = () => performance.timeOrigin + performance.now();

/** Clock ticks of CPU (user + system) a process and its children (nginx's worker) used so far. */
function cpuTicks(pid: number): number {
  let ticks = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks = Number(fields[11]) + Number(fields[12]);
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean))
      ticks += cpuTicks(Number(child));
  } catch {
    // gone, or no /proc: counted as nothing
  }
  return ticks;
}
const TICK_US = 10_000; // USER_HZ is 100 on Linux

/** Pins `pid` (all its threads) to `cpus` ("0", "1"); a no-op without taskset. */
function pin(pid: number, cpus: string): void {
  const result = spawnSync("taskset", ["-a", "-pc", cpus, String(pid)], { stdio: "ignore" });
  if (result.status !== 0) throw new Error(`taskset -a -pc ${cpus} ${pid} failed (${result.status})`);
}

/**
 * The sidecar's other work beside the proxy, as an agent makes it: a memory file written every
 * 50 ms (the watcher hashes it, diffs it, and an event is sealed and spooled).
 */
function busyMemory(workspace: string): () => void {
  const dir = join(workspace, "memory");
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 30; i++)
    writeFileSync(join(dir, `note-${i}.md`), `# note ${i}\n${"- a fact\n".repeat(40)}`);
  let n = 0;
  const timer = setInterval(() => {
    n++;
    writeFileSync(join(dir, `note-${n % 30}.md`), `# note ${n}\n${"- a fact\n".repeat(40 + (n % 7))}`);
  }, 50);
  return () => clearInterval(timer);
}

/**
 * One run: a provider, nginx and a sidecar started afresh; after a warm-up, three rounds of each
 * target (paced, flat out, streaming first byte); medians of the rounds. Pinned: the sidecar and
 * nginx on cpu 1, the provider and the load on cpu 0.
 */
async function oneRun(options: BenchOptions): Promise<RunResult> {
  const ws = tempDir("clawguard-bench-llm-");
  const children: ChildProcess[] = [];
  let stopBusy = () => {};
  try {
    const fake = spawn(process.execPath, [fileURLToPath(new URL("./fake-upstream.ts", import.meta.url))], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(fake);
    const upstream = new URL(await started(fake, "the provider"));

    const nginxPort = await freePort();
    mkdirSync(join(ws.path, "nginx"));
    writeFileSync(
      join(ws.path, "nginx", "nginx.conf"),
      nginxConf(join(ws.path, "nginx"), nginxPort, upstream),
    );
    const nginx = spawn(NGINX as string, ["-c", join(ws.path, "nginx", "nginx.conf"), "-g", "daemon off;"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.push(nginx);
    const floor = spawn(
      process.execPath,
      [fileURLToPath(new URL("./floor-proxy.ts", import.meta.url)), upstream.origin],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(floor);
    const floorOrigin = await started(floor, "the floor proxy");
    const sidecarPort = await freePort();
    const sidecar = startSidecar(ws.path, sidecarPort, upstream);
    children.push(sidecar);
    await answering(`http://127.0.0.1:${sidecarPort}/healthz`, sidecar);
    await answering(`http://127.0.0.1:${nginxPort}/v1/models`, nginx);
    if (options.pin) {
      for (const pid of [sidecar.pid, nginx.pid, floor.pid]) pin(pid as number, "1");
      for (const pid of [fake.pid, process.pid]) pin(pid as number, "0");
    }
    const stallsWithin = await startStallProbe(children);
    if (options.busy) stopBusy = busyMemory(ws.path);

    const targets: Array<Target & { pid?: number | undefined }> = [
      { name: "direct", origin: upstream.origin, path: "/v1/chat/completions" },
      {
        name: "nginx",
        origin: `http://127.0.0.1:${nginxPort}`,
        path: "/v1/chat/completions",
        pid: nginx.pid,
      },
      { name: "floor", origin: floorOrigin, path: "/v1/chat/completions", pid: floor.pid },
      {
        name: "clawguard",
        origin: `http://127.0.0.1:${sidecarPort}`,
        path: "/llm/openai/chat/completions",
        pid: sidecar.pid,
      },
    ];
    return await rounds(targets, options, stallsWithin);
  } finally {
    stopBusy();
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await Promise.race([once(child, "exit"), new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
    }
    if (options.pin) pin(process.pid, "0-1");
    ws.cleanup();
  }
}

/**
 * After a warm-up (1 000 calls and 1 000 streaming calls each), three rounds of each target in
 * turn (paced, flat out, streaming first byte),
 * with what the stall probe saw during each paced round; the medians of the rounds.
 */
async function rounds(
  targets: Array<Target & { pid?: number | undefined }>,
  options: BenchOptions,
  stallsWithin: (from: number, to: number) => Stalls,
): Promise<RunResult> {
  const paced: Record<string, Load[]> = {};
  const flat: Record<string, Load[]> = {};
  const firstBytes: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const windows: Record<string, Array<[number, number]>> = {};
  for (const { name } of targets) {
    for (const runs of [paced, flat, firstBytes, cpu]) runs[name] = [];
    windows[name] = [];
  }
  // Warm up connections and JIT, the streaming path too: each target's first streaming calls cost
  // several times its later ones (the sidecar's first 500 1.5 ms of CPU a call, ~0.35 ms from the
  // 2 000th on; the floor's 0.9 -> 0.16 ms), and three rounds of 200 measured that warm-up.
  for (const target of targets) {
    await load(target, 1000);
    await ttfb(target, 1000);
  }
  for (let round = 1; round <= 3; round++) {
    for (const target of targets) {
      progress(
        `llm: ${target.name}, round ${round}/3: ${options.requests} calls at ${options.rate}/s, then flat out`,
      );
      const from = epochNow();
      paced[target.name]?.push(await load(target, options.requests, options.rate));
      windows[target.name]?.push([from, epochNow()]);
      const before = target.pid ? cpuTicks(target.pid) : 0;
      flat[target.name]?.push(await load(target, options.requests));
      if (target.pid) cpu[target.name]?.push(((cpuTicks(target.pid) - before) * TICK_US) / options.requests);
      firstBytes[target.name]?.push(await ttfb(target, 200));
    }
  }
  // The probe prints a stall once it is over: the last round's are in once it has printed them.
  await new Promise((r) => setTimeout(r, 100));
  const result: RunResult = { load: {}, ttfb: {}, cpuUs: {}, stalls: {} };
  for (const { name } of targets) {
    const of = (runs: Record<string, Load[]>, key: keyof Load) =>
      median((runs[name] ?? []).map((r) => r[key]));
    result.load[name] = { p50: of(paced, "p50"), p99: of(paced, "p99"), rps: of(flat, "rps") };
    result.ttfb[name] = median(firstBytes[name] ?? []);
    result.cpuUs[name] = median(cpu[name] ?? [0]);
    const seen = (windows[name] ?? []).map(([from, to]) => stallsWithin(from, to));
    result.stalls[name] = {
      count: seen.reduce((n, s) => n + s.count, 0),
      longestMs: Math.max(0, ...seen.map((s) => s.longestMs)),
    };
  }
  return result;
}

function startSidecar(workspace: string, port: number, upstream: URL): ChildProcess {
  mkdirSync(join(workspace, ".clawguard"));
  writeFileSync(
    join(workspace, "clawguard.yaml"),
    [
      "spool: { fsync: interval }",
      "llm:",
      "  authCheckIntervalMs: 0",
      "  providers:",
      "    openai:",
      `      upstream: ${upstream.origin}/v1`,
      "      api: openai-completions",
      "      models: [{ id: gpt-4.1, contextWindow: 128000, maxTokens: 4096 }]",
    ].join("\n"),
  );
  // PROFILE_SIDECAR's flags go before the script, not in NODE_OPTIONS: Node refuses V8 flags such
  // as --trace-gc there ("not allowed in NODE_OPTIONS"), and the sidecar then never started.
  const flags = (process.env.PROFILE_SIDECAR ?? "").split(" ").filter(Boolean);
  return spawn(process.execPath, [...flags, CLI, "sidecar", "--config", join(workspace, "clawguard.yaml")], {
    cwd: workspace,
    env: {
      ...imageEnv(),
      PATH: process.env.PATH,
      CLAWGUARD_WORKSPACE: workspace,
      CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
      CLAWGUARD_INGEST_TOKEN: "bench",
      ...SEALED,
      CLAWGUARD_COLLECTOR_URL: "http://127.0.0.1:9",
      CLAWGUARD_LOG_LEVEL: "error",
    },
    // With PROFILE_SIDECAR (--trace-gc...), what the sidecar prints goes to the bench's stderr.
    stdio: ["ignore", process.env.PROFILE_SIDECAR ? 2 : "ignore", "inherit"],
  });
}

export interface BenchOptions {
  requests: number;
  rate: number;
  /** Runs, each with fresh processes: each figure is their median, with the worst run beside it. */
  repeat?: number | undefined;
  /** The sidecar and nginx on one core, the provider and the load on the other (taskset). */
  pin?: boolean | undefined;
  /** Memory files written beside the load, so the sidecar's other work shares its event loop. */
  busy?: boolean | undefined;
}

/** `--repeat`, pinning and a busy sidecar also from the environment, for a runner that passes only the rest. */
function withEnvironment(options: BenchOptions): Required<BenchOptions> {
  const repeat = options.repeat ?? Number(process.env.CLAWGUARD_BENCH_REPEAT ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1)
    throw new Error(`CLAWGUARD_BENCH_REPEAT: expected a positive integer, got ${repeat}`);
  return {
    ...options,
    repeat,
    pin: options.pin ?? process.env.CLAWGUARD_BENCH_PIN === "1",
    busy: options.busy ?? process.env.CLAWGUARD_BENCH_BUSY !== "0",
  };
}

export async function benchLlmProxy(given: BenchOptions): Promise<Figure[]> {
  if (!NGINX) throw new Error("nginx is needed as the reverse-proxy anchor: apt-get install nginx-light");
  const options = withEnvironment(given);
  const runs: RunResult[] = [];
  for (let r = 1; r <= options.repeat; r++) {
    progress(
      `llm: run ${r}/${options.repeat}${options.pin ? ", pinned apart" : ""}${options.busy ? ", sidecar busy" : ""}`,
    );
    runs.push(await oneRun(options));
    const last = runs.at(-1) as RunResult;
    const added = (name: string) => (last.load[name]?.p99 ?? 0) - (last.load.direct?.p99 ?? 0);
    progress(
      `llm: run ${r}: added p99 ${added("clawguard").toFixed(2)} ms (nginx ${added("nginx").toFixed(2)}), ` +
        `${(last.load.clawguard?.rps ?? 0).toFixed(0)} calls/s (nginx ${(last.load.nginx?.rps ?? 0).toFixed(0)}), ` +
        `cpu/call ${last.cpuUs.clawguard?.toFixed(0)} us (nginx ${last.cpuUs.nginx?.toFixed(0)}); ` +
        `floor: added p99 ${added("floor").toFixed(2)} ms, ${(last.load.floor?.rps ?? 0).toFixed(0)} calls/s, ` +
        `cpu/call ${last.cpuUs.floor?.toFixed(0)} us; first byte ${last.ttfb.clawguard?.toFixed(2)} ms ` +
        `(nginx ${last.ttfb.nginx?.toFixed(2)}, floor ${last.ttfb.floor?.toFixed(2)}); ` +
        `the idle probe stalled ${last.stalls.clawguard?.count} times (longest ${last.stalls.clawguard?.longestMs.toFixed(1)} ms) ` +
        `in clawguard's paced rounds, ${last.stalls.nginx?.count} (${last.stalls.nginx?.longestMs.toFixed(1)} ms) in nginx's`,
    );
  }
  const dir = tempDir("clawguard-bench-trim-");
  try {
    return [...proxyFigures(runs, options), await trimInItsOwnProcess(dir.path)];
  } finally {
    dir.cleanup();
  }
}

/** A figure's median over the runs and, with more than one, its worst. */
function spread(values: number[], worst: "max" | "min", digits: number, unit: string): string {
  const med = `${median(values).toFixed(digits)}${unit}`;
  if (values.length === 1) return med;
  const bad = worst === "max" ? Math.max(...values) : Math.min(...values);
  return `${med} (worst ${bad.toFixed(digits)})`;
}

/** What the idle stall probe saw in clawguard's paced rounds, beside nginx's: the machine's share of a tail. */
function stallFigure(runs: RunResult[]): Figure {
  const of = (name: string) => {
    const count = spread(
      runs.map((r) => r.stalls[name]?.count ?? 0),
      "max",
      0,
      "",
    );
    const longest = spread(
      runs.map((r) => r.stalls[name]?.longestMs ?? 0),
      "max",
      1,
      " ms",
    );
    return `${count}, ${longest}`;
  };
  return {
    name: "the machine under that load: an idle process's wake-ups 4+ ms late (stall-probe.ts) in clawguard's paced rounds, the longest",
    value: of("clawguard"),
    anchor: `${of("nginx")} in nginx's`,
    ratio: "-",
    target: "-",
  };
}

function proxyFigures(runs: RunResult[], options: Required<BenchOptions>): Figure[] {
  const added = (r: RunResult, name: string, key: "p50" | "p99") =>
    (r.load[name]?.[key] ?? 0) - (r.load.direct?.[key] ?? 0);
  const all = (f: (r: RunResult) => number) => runs.map(f);
  const p99 = all((r) => added(r, "clawguard", "p99"));
  const nginxP99 = all((r) => added(r, "nginx", "p99"));
  // <= 5 ms, or within 2 ms of nginx's own added p99 in the same run (a noisy machine).
  const heldBy = (name: string) =>
    runs.filter((r, i) => added(r, name, "p99") <= Math.max(5, (nginxP99[i] as number) + 2)).length;
  const held = heldBy("clawguard");
  const needed = Math.ceil(runs.length * 0.9);
  const ratio = all((r) => (r.load.clawguard?.rps ?? 0) / (r.load.nginx?.rps ?? 1));
  const over = (name: string) => all((r) => (r.ttfb[name] ?? 0) - (r.ttfb.nginx ?? 0));
  const ttfbOver = over("clawguard");
  const how = `${runs.length} run${runs.length > 1 ? "s" : ""}${options.pin ? ", pinned apart" : ""}${options.busy ? ", sidecar busy" : ""}`;
  const direct = (f: (r: RunResult) => number) => median(all(f)).toFixed(2);
  return [
    {
      name: `llm proxy added p50, ${CONCURRENCY} concurrent at ${options.rate} calls/s (${how}; direct p50 ${direct((r) => r.load.direct?.p50 ?? 0)} ms)`,
      value: spread(
        all((r) => added(r, "clawguard", "p50")),
        "max",
        2,
        " ms",
      ),
      anchor: `${spread(
        all((r) => added(r, "nginx", "p50")),
        "max",
        2,
        " ms",
      )} nginx`,
      ratio: "-",
      target: "<= 1 ms",
      pass: median(all((r) => added(r, "clawguard", "p50"))) <= 1,
    },
    {
      name: `llm proxy added p99, same load (direct p99 ${direct((r) => r.load.direct?.p99 ?? 0)} ms; ${held} of ${runs.length} runs within target)`,
      value: spread(p99, "max", 2, " ms"),
      anchor: `${spread(nginxP99, "max", 2, " ms")} nginx`,
      ratio: "-",
      target: "<= 5 ms (or nginx + 2) in 9 of 10 runs",
      pass: held >= needed,
    },
    stallFigure(runs),
    {
      name: `llm proxy throughput, ${CONCURRENCY} concurrent flat out (direct ${median(all((r) => r.load.direct?.rps ?? 0)).toFixed(0)} calls/s)`,
      value: `${spread(
        all((r) => r.load.clawguard?.rps ?? 0),
        "min",
        0,
        " calls/s",
      )}`,
      anchor: `${median(all((r) => r.load.nginx?.rps ?? 0)).toFixed(0)} calls/s nginx`,
      ratio: spread(ratio, "min", 2, ""),
      target: ">= 0.8",
      pass: median(ratio) >= 0.8,
    },
    {
      name: `llm proxy CPU per call flat out (user + system)`,
      value: `${median(all((r) => r.cpuUs.clawguard ?? 0)).toFixed(0)} us`,
      anchor: `${median(all((r) => r.cpuUs.nginx ?? 0)).toFixed(0)} us nginx`,
      ratio: (median(all((r) => r.cpuUs.clawguard ?? 0)) / median(all((r) => r.cpuUs.nginx ?? 1))).toFixed(2),
      target: "-",
    },
    {
      name: `llm proxy floor (node:http + undici dispatch, nothing else): throughput flat out, CPU per call, added p99 (runs within the p99 target), first byte over nginx`,
      value: `${spread(
        all((r) => r.load.floor?.rps ?? 0),
        "min",
        0,
        " calls/s",
      )}, ${median(all((r) => r.cpuUs.floor ?? 0)).toFixed(0)} us, ${spread(
        all((r) => added(r, "floor", "p99")),
        "max",
        2,
        " ms",
      )} (${heldBy("floor")} of ${runs.length}), ${spread(over("floor"), "max", 2, " ms")}`,
      anchor: `${median(all((r) => r.load.nginx?.rps ?? 0)).toFixed(0)} calls/s nginx`,
      ratio: spread(
        all((r) => (r.load.floor?.rps ?? 0) / (r.load.nginx?.rps ?? 1)),
        "min",
        2,
        "",
      ),
      target: "-",
    },
    {
      name: `llm proxy streaming time to first byte (direct ${direct((r) => r.ttfb.direct ?? 0)} ms), clawguard - nginx`,
      value: `${median(all((r) => r.ttfb.clawguard ?? 0)).toFixed(2)} ms`,
      anchor: `${median(all((r) => r.ttfb.nginx ?? 0)).toFixed(2)} ms nginx`,
      ratio: spread(ttfbOver, "max", 2, " ms over"),
      target: "<= nginx + 0.3 ms",
      pass: median(ttfbOver) <= 0.3,
    },
  ];
}

/**
 * The trim in a process of its own, with what the sidecar loads: in the bench's process, once the
 * failover bench had loaded ioredis, the same trim took 2-3 times as long beside an unchanged JSON
 * anchor (importing ioredis alone does it; the cause inside is not found). The sidecar does not
 * load ioredis.
 */
async function trimInItsOwnProcess(dir: string): Promise<Figure> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--trim", dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`the trim benchmark exited with ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1) as string) as Figure;
}

if (import.meta.main && process.argv[2] === "--trim") {
  process.stdout.write(`${JSON.stringify(await benchTrim(process.argv[3] as string))}\n`);
}

/** A 1M-token agent session with tool calls, trimmed to a 128k window; beside parse + serialize. */
async function benchTrim(dir: string): Promise<Figure> {
  const exact = tokenizerFor("gpt-4.1", 0);
  const messages: unknown[] = [
    { role: "system", content: `You are an agent. ${"Follow the rules. ".repeat(2000)}` },
  ];
  let tokens = exact.count(JSON.stringify(messages));
  for (let t = 0; tokens < 1_000_000; t++) {
    const turn = [
      { role: "user", content: `Step ${t}: look at the build output and fix what fails. `.repeat(20) },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: `call_${t}`,
            type: "function",
            function: { name: "exec", arguments: `{"command":"make -j4 target${t}"}` },
          },
        ],
      },
      {
        role: "tool",
        tool_call_id: `call_${t}`,
        content: `make: building target${t}\n${`cc -O2 -c src/file${t}.c -o obj/file${t}.o\n`.repeat(t % 10 === 0 ? 2000 : 60)}`,
      },
      {
        role: "assistant",
        content: `Target ${t} builds now; the warning in file${t}.c is harmless. `.repeat(10),
      },
    ];
    messages.push(...turn);
    tokens += exact.count(JSON.stringify(turn));
  }
  const text = JSON.stringify({ model: "gpt-4.1", messages, stream: true });
  // Where the sidecar keeps spills (the workspace's .clawguard/spill), as the proxy writes them.
  const spill = new SpillStore(join(dir, ".clawguard", "spill"));
  const trimTimes: number[] = [];
  const anchorTimes: number[] = [];
  let after = 0;
  let kept = "";
  const budget = 128_000 - 4096 - 1280;
  for (let i = 0; i < 5; i++) {
    progress(
      `llm: trimming a ${tokens}-token conversation (${(text.length / 1e6).toFixed(1)} MB), run ${i + 1}/5`,
    );
    const a0 = performance.now();
    JSON.stringify(JSON.parse(text));
    anchorTimes.push(performance.now() - a0);
    const t0 = performance.now();
    const body = JSON.parse(text) as Record<string, unknown>;
    const counter = tokenizerFor("gpt-4.1", text.length);
    const conversation = openAiChat.conversation(body, text, counter);
    if (!conversation) throw new Error("not a conversation");
    const result = await trimConversation(openAiChat, text, conversation, {
      budget,
      spillAboveTokens: 2048,
      counter,
      spill: (output, outputTokens) =>
        spillToolOutput(spill, output, outputTokens, { agent: "bench", origin: "bench" }),
    });
    trimTimes.push(performance.now() - t0);
    after = result.tokensAfter;
    kept = result.text;
  }
  // What the provider would count (o200k, exactly), to show the trimmed request fits.
  const keptExact = exact.count(kept);
  if (keptExact > budget)
    throw new Error(`the trimmed request has ${keptExact} tokens, over the ${budget} budget`);
  const ms = median(trimTimes);
  return {
    name: `trim a ${(tokens / 1e6).toFixed(2)}M-token conversation to a ${budget}-token budget (${after} estimated, ${keptExact} exact after)`,
    value: `${ms.toFixed(0)} ms`,
    anchor: `${median(anchorTimes).toFixed(0)} ms JSON parse + stringify`,
    ratio: (ms / median(anchorTimes)).toFixed(2),
    target: "<= 100 ms",
    pass: ms <= 100,
  };
}
