import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { watch as fsWatch, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { runDecay } from "@clawguard/sidecar/sources/memory-watch/decay/index";
import { bundleImage } from "../../deploy/src/build/image-bundle.ts";
import {
  freePort,
  Processes,
  type RunningCollector,
  startCollector,
  waitUntilUp,
} from "../support/processes.ts";
import { imageEnv, SEALED } from "./image-env.ts";
import { type Figure, percentile, progress } from "./report.ts";

/**
 * The memory watcher with a real collector (embedded store) and sidecar: how long a write takes to
 * reach the collector as an event (beside the kernel's own notification of the same write), and
 * what the sidecar costs at rest watching many files (beside an idle Node process).
 */

/** An ordinary workspace: a few dozen memory files. */
const BASE_FILES = 50;
const TICK = 100; // USER_HZ: clock ticks per second in /proc/<pid>/stat on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime + stime
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

/** Five years of daily logs (sizes varying up to ~4 KB), then one decay run; beside `cp -r` of them. */
async function benchDecay(): Promise<Figure> {
  const ws = tempDir("clawguard-bench-decay-");
  try {
    const memory = join(ws.path, "memory");
    mkdirSync(memory);
    let bytes = 0;
    const first = Date.UTC(2021, 10, 27);
    const days = 5 * 365 + 1;
    for (let d = 0; d < days; d++) {
      const date = new Date(first + d * 86_400_000).toISOString().slice(0, 10);
      const text = `# ${date}\n${"- a thing the agent noted today\n".repeat(1 + (d % 120))}`;
      writeFileSync(join(memory, `${date}.md`), text);
      bytes += text.length;
    }
    progress(`memory: decaying 5 years of daily logs (${days} files, ${(bytes / 1e6).toFixed(1)} MB)`);
    const c0 = performance.now();
    const copy = spawnSync("cp", ["-r", memory, join(ws.path, "copy")]);
    if (copy.status !== 0) throw new Error(`cp -r failed: ${copy.stderr}`);
    const copyMs = performance.now() - c0;
    const t0 = performance.now();
    const { results } = await runDecay({
      workspace: ws.path,
      now: new Date(first + (days + 1) * 86_400_000),
      config: {},
    });
    const ms = performance.now() - t0;
    const actions = results.reduce((n, r) => n + r.actions.length, 0);
    return {
      name: `decay 5 years of daily logs in one run (${days} logs, ${actions} moves)`,
      value: `${(ms / 1000).toFixed(2)} s`,
      anchor: `${(copyMs / 1000).toFixed(2)} s cp -r of the logs`,
      ratio: (ms / copyMs).toFixed(1),
      target: "-",
    };
  } finally {
    ws.cleanup();
  }
}

export async function benchMemory(options: {
  writes: number;
  files: number;
  idleSeconds: number;
}): Promise<Figure[]> {
  const procs = new Processes();
  const ws = tempDir("clawguard-bench-memory-");
  const imageDir = join(ws.path, "..", `${basename(ws.path)}-image`);
  let idle: ChildProcess | undefined;
  try {
    mkdirSync(join(ws.path, ".clawguard"));
    mkdirSync(join(ws.path, "memory", "bench"), { recursive: true });
    // An ordinary workspace first: a few dozen memory files, as the sidecar finds them at its start.
    mkdirSync(join(ws.path, "memory", "base"));
    for (let i = 0; i < BASE_FILES; i++) {
      writeFileSync(
        join(ws.path, "memory", "base", `note-${i}.md`),
        `# note ${i}\n${"- a thing noted\n".repeat(i)}`,
      );
    }
    // What the sidecar's image runs: its bundle (plain JavaScript), with the image's environment.
    progress("memory: bundling the sidecar as its image holds it");
    const { out: image } = await bundleImage("sidecar", imageDir);
    progress("memory: starting a collector (embedded store) and a sidecar");
    const collector = await startCollector(procs, ws.path, ["main"]);
    const { url: collectorUrl, read } = collector;
    const ingest = collector.tokens.main as string;
    const sport = await freePort();
    const sidecar = procs.node(
      "sidecar",
      [join(image, "bin.js"), "sidecar"],
      {
        ...imageEnv(),
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_INGEST_TOKEN: ingest,
        ...SEALED,
        CLAWGUARD_COLLECTOR_URL: collectorUrl,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${sport}`,
        CLAWGUARD_LOG_LEVEL: "warn",
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${sport}/healthz`, sidecar);
    const sidecarUrl = `http://127.0.0.1:${sport}`;
    await untilShipped(sidecarUrl, collector, `memory/base/note-${BASE_FILES - 1}.md`);
    idle = spawn(process.execPath, ["-e", "setInterval(() => {}, 60_000)"], { stdio: "ignore" });
    const idlePid = idle.pid as number;
    progress(
      `memory: ${options.idleSeconds} s at rest with ${BASE_FILES} files, beside an idle Node process`,
    );
    const small = await atRest(sidecar.pid, idlePid, options.idleSeconds, 2);

    // Latency: one write every 20 ms, each to its own file; arrival seen by polling the collector.
    progress(`memory: ${options.writes} writes, timing each to its event in the collector`);
    const written = new Map<string, number>();
    const notified = new Map<string, number>();
    const arrived = new Map<string, number>();
    const watcher = fsWatch(join(ws.path, "memory", "bench"), (_, name) => {
      if (name && !notified.has(name)) notified.set(name, performance.now());
    });
    let polling = true;
    const poll = (async () => {
      let cursor: string | null = null;
      while (polling || arrived.size < written.size) {
        const url = new URL("/v1/audit", collectorUrl);
        url.searchParams.set("type", "memory.changed");
        url.searchParams.set("limit", "1000");
        if (cursor) url.searchParams.set("cursor", cursor);
        const page = (await (await fetch(url, { headers: { authorization: `Bearer ${read}` } })).json()) as {
          events: { attrs: { path: string } }[];
          next_cursor: string | null;
        };
        const now = performance.now();
        for (const e of page.events) {
          // Only the writes timed here (the 50 files of the start are in the same feed).
          if (!e.attrs.path.startsWith("memory/bench/")) continue;
          const name = e.attrs.path.slice("memory/bench/".length);
          if (!arrived.has(name)) arrived.set(name, now);
        }
        cursor = page.next_cursor ?? cursor;
        if (page.events.length < 1000) await new Promise((r) => setTimeout(r, 10));
      }
    })();
    for (let i = 0; i < options.writes; i++) {
      const name = `note-${i}.md`;
      written.set(name, performance.now());
      writeFileSync(
        join(ws.path, "memory", "bench", name),
        `# note ${i}\n- ${randomBytes(24).toString("hex")}\n`,
      );
      await new Promise((r) => setTimeout(r, 20));
    }
    polling = false;
    await Promise.race([
      poll,
      new Promise((_, reject) => setTimeout(() => reject(new Error("events missing after 60 s")), 60_000)),
    ]);
    watcher.close();
    const latencies = [...written]
      .map(([name, t]) => (arrived.get(name) as number) - t)
      .sort((a, b) => a - b);
    const kernel = [...written].map(([name, t]) => (notified.get(name) ?? t) - t).sort((a, b) => a - b);

    // At rest: many watched files, everything shipped, then a quiet minute.
    progress(`memory: ${options.files} files to watch; waiting until all are shipped`);
    for (let d = 0; d < Math.ceil(options.files / 100); d++) {
      mkdirSync(join(ws.path, "memory", "many", `d${d}`), { recursive: true });
      for (let f = 0; f < 100 && d * 100 + f < options.files; f++) {
        writeFileSync(
          join(ws.path, "memory", "many", `d${d}`, `f${f}.md`),
          `file ${d}/${f}\n${"x".repeat(200)}\n`,
        );
      }
    }
    await untilShipped(sidecarUrl, collector, `memory/many/d${Math.ceil(options.files / 100) - 1}/f0.md`);
    progress(
      `memory: ${options.idleSeconds} s at rest with ${options.files} files more (after ${SETTLE_AFTER_BURST_S} s to settle)`,
    );
    const many = await atRest(sidecar.pid, idlePid, options.idleSeconds, SETTLE_AFTER_BURST_S);
    await sidecar.kill("SIGTERM");
    await collector.managed.kill("SIGTERM");
    const decay = await benchDecay();
    return [
      {
        name: `memory write -> event in the collector, p50 (${options.writes} writes, settle 200 ms)`,
        value: `${percentile(latencies, 50).toFixed(0)} ms`,
        anchor: `${percentile(kernel, 50).toFixed(1)} ms fs.watch notification`,
        ratio: "-",
        target: "-",
      },
      {
        name: "memory write -> event in the collector, p99",
        value: `${percentile(latencies, 99).toFixed(0)} ms`,
        anchor: `${percentile(kernel, 99).toFixed(1)} ms fs.watch notification`,
        ratio: "-",
        target: "<= 500 ms",
        pass: percentile(latencies, 99) <= 500,
      },
      ...restFigures(`${BASE_FILES} files`, small, 90),
      ...restFigures(`${options.files + options.writes + BASE_FILES} files`, many, 150),
      decay,
    ];
  } finally {
    idle?.kill("SIGKILL");
    await procs.cleanup();
    ws.cleanup();
    rmSync(imageDir, { recursive: true, force: true });
  }
}

interface Rest {
  cpu: number;
  rssMb: number;
  idleCpu: number;
  idleRssMb: number;
}

/**
 * After a burst (10 000 files read and shipped), the sidecar's heap release gives the burst's pages
 * back with one collection once the heap has been quiet for a whole check (10 s): two checks, then
 * the process is at rest. That one-off settling is not counted as CPU at rest.
 */
const SETTLE_AFTER_BURST_S = 22;

/** CPU (% of one core) and RSS of the sidecar over `seconds` with nothing to do, beside an idle Node. */
async function atRest(pid: number, idlePid: number, seconds: number, settleS: number): Promise<Rest> {
  await new Promise((r) => setTimeout(r, settleS * 1000));
  const [s0, i0] = [cpuSeconds(pid), cpuSeconds(idlePid)];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return {
    cpu: ((cpuSeconds(pid) - s0) / seconds) * 100,
    idleCpu: ((cpuSeconds(idlePid) - i0) / seconds) * 100,
    rssMb: rssMb(pid),
    idleRssMb: rssMb(idlePid),
  };
}

function restFigures(what: string, rest: Rest, targetMb: number): Figure[] {
  return [
    {
      name: `sidecar CPU at rest watching ${what}`,
      value: `${rest.cpu.toFixed(2)} %`,
      anchor: `${rest.idleCpu.toFixed(2)} % idle node`,
      ratio: "-",
      target: "< 1 %",
      pass: rest.cpu < 1,
    },
    {
      name: `sidecar RSS at rest watching ${what}`,
      value: `${rest.rssMb.toFixed(1)} MB`,
      anchor: `${rest.idleRssMb.toFixed(1)} MB idle node`,
      ratio: (rest.rssMb / rest.idleRssMb).toFixed(2),
      target: `<= ${targetMb} MB`,
      pass: rest.rssMb <= targetMb,
    },
  ];
}

/** Until the collector has `path`'s first version and the sidecar's spool and blobs are all shipped. */
async function untilShipped(sidecarUrl: string, collector: RunningCollector, path: string): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const ready = (await (await fetch(`${sidecarUrl}/readyz`)).json()) as {
      spool: { backlog: number };
      blobs: { pending: number };
    };
    const history = await fetch(`${collector.url}/v1/memory/history?path=${encodeURIComponent(path)}`, {
      headers: { authorization: `Bearer ${collector.read}` },
    });
    const seen = ((await history.json()) as { versions: unknown[] }).versions.length > 0;
    if (seen && ready.spool.backlog === 0 && ready.blobs.pending === 0) return;
    if (Date.now() > deadline) throw new Error(`not all shipped after 10 min: ${JSON.stringify(ready)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
