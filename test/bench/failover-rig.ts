import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CLI, freePort, type Managed, type Processes, waitUntilUp } from "../support/processes.ts";

/**
 * The processes of the failover bench: a collector (or several replicas) on PostgreSQL and Redis
 * with the controller on, `clawguard router` in front of a gateway group, and the gateways
 * themselves, stand-ins on one state directory, each started and stopped together with its own
 * sidecar by the command actuator (as one pod would be). Every PID started is written down and
 * killed at the end; the actuator writes a timestamp (ms) at each step it takes.
 */

export const STAND_IN = fileURLToPath(
  import.meta.resolve("@clawguard/collector/controller/stand-in-gateway"),
);

/** The drill's knobs, printed with the figures. */
export interface Settings {
  probeIntervalMs: number;
  failuresToFail: number;
  heartbeatMs: number;
  sweepMs: number;
  tickMs: number;
  unhealthyForMs: number;
  minFailoverIntervalMs: number;
  leaseTtlMs: number;
}

export interface Gateway {
  agent: string;
  port: number;
  url: string;
}

/** A JSON log line of one of the processes, with its time in ms. */
export interface LogLine {
  at: number;
  msg: string;
  level: string;
  [field: string]: unknown;
}

const MAX_LINES = 10_000;

export function parseLogLine(text: string): LogLine | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(text) as { time: string; msg: string; level: string; [field: string]: unknown };
    return { ...record, at: Date.parse(record.time) };
  } catch {
    return undefined;
  }
}

/** Follows a process's JSON log lines on stderr, keeping the ones `keep` selects (at most MAX_LINES). */
export function followLog(managed: Managed, keep: (line: LogLine) => boolean): LogLine[] {
  const lines: LogLine[] = [];
  let partial = "";
  managed.child.stderr?.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const text of parts) {
      const line = parseLogLine(text);
      if (line && keep(line) && lines.length < MAX_LINES) lines.push(line);
    }
  });
  return lines;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` every `everyMs` until it holds; resolves with the time (ms) it first held. */
export async function firstAt(
  what: string,
  ok: () => Promise<unknown> | unknown,
  everyMs: number,
  deadline: number,
): Promise<number> {
  for (;;) {
    if (
      await Promise.resolve()
        .then(ok)
        .catch(() => false)
    )
      return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The port of the stand-in gateway that answered at `url` (stand-ins answer every path with it). */
export async function whoAnswers(url: string): Promise<number | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  if (!response.ok) return undefined;
  return ((await response.json()) as { port?: number }).port;
}

export async function answersReady(url: string): Promise<boolean> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
  return response.ok;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Whether `pid` is a process this bench started (its command line names the bench's directory). */
function ours(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
  } catch {
    return false;
  }
}

/** SIGKILL to every process the actuator script started that is still running. */
export function killStarted(dir: string): void {
  const file = join(dir, "pids");
  if (!existsSync(file)) return;
  for (const pid of readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number)) {
    if (ours(pid, dir)) process.kill(pid, "SIGKILL");
  }
}

/**
 * The command actuator's far end: `sh actuate.sh start|stop AGENT PORT`. start runs the gateway
 * and its sidecar in the background; stop sends both SIGTERM (docker stop). Each step is marked
 * "<action>-begin|end AGENT ms" in `marks`; each PID goes to `pids`.
 */
function writeActuator(dir: string): string {
  const script = join(dir, "actuate.sh");
  writeFileSync(
    script,
    `#!/bin/sh
set -u
dir=${quote(dir)}
node=${quote(process.execPath)}
mark() { echo "$1 $2 $(date +%s%3N)" >> "$dir/marks"; }
ours() { [ -n "$1" ] && grep -qF -- "$dir" "/proc/$1/cmdline" 2>/dev/null; }
action=$1 agent=$2 port=$3
mark "$action-begin" "$agent"
case $action in
start)
  old=$(cat "$dir/$agent/sidecar.pid" 2>/dev/null || true)
  if ours "$old"; then kill -KILL "$old"; fi
  "$node" ${quote(STAND_IN)} --port "$port" --state "$dir/state" >> "$dir/$agent/gateway.log" 2>&1 &
  echo $! >> "$dir/pids"
  env -i PATH="$PATH" HOME="$HOME" CLAWGUARD_LOG_FORMAT=json CLAWGUARD_LOG_LEVEL=info \\
    "$node" ${quote(CLI)} sidecar --config "$dir/$agent/clawguard.yaml" >> "$dir/$agent/sidecar.log" 2>&1 &
  echo $! > "$dir/$agent/sidecar.pid"
  echo $! >> "$dir/pids"
  ;;
stop)
  gateway=$(cat "$dir/state/pid-$port" 2>/dev/null || true)
  if ours "$gateway"; then kill -TERM "$gateway"; fi
  sidecar=$(cat "$dir/$agent/sidecar.pid" 2>/dev/null || true)
  if ours "$sidecar"; then kill -TERM "$sidecar"; fi
  ;;
esac
mark "$action-end" "$agent"
`,
  );
  return script;
}

export interface Stores {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
}

export interface Rig {
  dir: string;
  state: string;
  actuator: string;
  collector: Managed;
  collectorUrl: string;
  read: string;
  router: Managed;
  routerUrl: string;
  gateways: [Gateway, Gateway];
  collectorLog: LogLine[];
  routerLog: LogLine[];
}

/** Collector config: the controller with one group, driven by the actuator's commands. */
export function collectorConfig(
  host: string,
  port: number,
  prefix: string,
  settings: Settings,
  group: { name: string; primary: Gateway; standby: Gateway },
  actuator: { start: string[]; stop: string[] },
) {
  return {
    listen: `127.0.0.1:${port}`,
    host,
    redis: { keyPrefix: prefix },
    fleet: { sweepMs: settings.sweepMs },
    controller: {
      groups: [
        {
          name: group.name,
          primary: group.primary.agent,
          standby: group.standby.agent,
          targets: { [group.primary.agent]: group.primary.url, [group.standby.agent]: group.standby.url },
        },
      ],
      actuator: { kind: "command", ...actuator, timeoutMs: 10_000 },
      tickMs: settings.tickMs,
      unhealthyForMs: settings.unhealthyForMs,
      // A drill measures failover: no restarts in place first.
      restartBudget: 0,
      minFailoverIntervalMs: settings.minFailoverIntervalMs,
      downTimeoutMs: 5000,
      readyTimeoutMs: 20_000,
      leaseTtlMs: settings.leaseTtlMs,
    },
  };
}

/** A collector process on the stores, its config written into `dir` as `<name>.yaml` (JSON is YAML). */
export async function startCollector(
  procs: Processes,
  dir: string,
  name: string,
  port: number,
  stores: Stores,
  read: string,
  config: object,
): Promise<{ managed: Managed; url: string }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const managed = procs.cli(
    name,
    ["collector", "--config", file],
    {
      DATABASE_URL: stores.databaseUrl,
      REDIS_URL: stores.redisUrl,
      CLAWGUARD_READ_TOKEN: read,
      CLAWGUARD_INGEST_TOKENS_FILE: join(dir, "tokens"),
      CLAWGUARD_LOG_FORMAT: "json",
      CLAWGUARD_LOG_LEVEL: "info",
    },
    dir,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(`${url}/readyz`, managed, 60_000);
  return { managed, url };
}

/** Lines of the controller's and router's logs the drills read. */
const CONTROLLER_LINES = new Set([
  "controller",
  "failover: fencing the primary",
  "failover done",
  "failover held: the primary is not confirmed down, the standby is not started (one state, one gateway)",
  "failover stalled: the standby did not become ready",
  "controller tick failed",
  "lease lost mid-action: stopping here",
  "lease lost mid-action: a newer token was granted; stepping down",
]);

/** Everything of one failover rig, gw-a primary and running, gw-b its standby, the router in front. */
export async function startRig(
  procs: Processes,
  dir: string,
  stores: Stores,
  settings: Settings,
): Promise<Rig> {
  const state = join(dir, "state");
  mkdirSync(state);
  const actuator = writeActuator(dir);
  const read = randomBytes(16).toString("hex");
  const collectorPort = await freePort();
  const gateways: Gateway[] = [];
  let tokens = "";
  for (const agent of ["gw-a", "gw-b"]) {
    const port = await freePort();
    const gateway = { agent, port, url: `http://127.0.0.1:${port}` };
    gateways.push(gateway);
    const token = randomBytes(16).toString("hex");
    tokens += `${agent} ${token}\n`;
    const home = join(dir, agent);
    mkdirSync(join(home, "workspace", ".clawguard"), { recursive: true });
    writeFileSync(join(home, "token"), token);
    writeFileSync(
      join(home, "clawguard.yaml"),
      JSON.stringify({
        agent,
        role: "gateway",
        workspace: join(home, "workspace"),
        api: { listen: `127.0.0.1:${await freePort()}` },
        shipper: { url: `http://127.0.0.1:${collectorPort}`, token: { file: join(home, "token") } },
        heartbeat: { intervalMs: settings.heartbeatMs },
        probe: {
          intervalMs: settings.probeIntervalMs,
          timeoutMs: 1000,
          failuresToFail: settings.failuresToFail,
          successesToPass: 2,
          probes: [{ name: "ready", kind: "http", url: `${gateway.url}/readyz`, expectBody: '"ready":true' }],
        },
      }),
    );
  }
  writeFileSync(join(dir, "tokens"), tokens);
  const [primary, standby] = gateways as [Gateway, Gateway];
  const command = (action: string) => ["sh", actuator, action, "{agent}", "{port}"];
  const collector = await startCollector(
    procs,
    dir,
    "collector",
    collectorPort,
    stores,
    read,
    collectorConfig(
      "bench-collector",
      collectorPort,
      stores.prefix,
      settings,
      { name: "gw", primary, standby },
      {
        start: command("start"),
        stop: command("stop"),
      },
    ),
  );
  const collectorLog = followLog(
    collector.managed,
    (l) => CONTROLLER_LINES.has(l.msg) || l.level === "error",
  );
  const routerPort = await freePort();
  const router = procs.cli(
    "router",
    ["router", "--group", "gw", "--listen", `127.0.0.1:${routerPort}`],
    {
      REDIS_URL: stores.redisUrl,
      CLAWGUARD_REDIS_KEY_PREFIX: stores.prefix,
      CLAWGUARD_LOG_FORMAT: "json",
      CLAWGUARD_LOG_LEVEL: "info",
    },
    dir,
  );
  const routerLog = followLog(router, (l) => l.msg === "route switched" || l.level !== "info");
  return {
    dir,
    state,
    actuator,
    collector: collector.managed,
    collectorUrl: collector.url,
    read,
    router,
    routerUrl: `http://127.0.0.1:${routerPort}`,
    gateways: [primary, standby],
    collectorLog,
    routerLog,
  };
}

/** Runs the actuator script as the controller would (the first primary is started by the bench). */
export async function actuate(rig: Rig, action: "start" | "stop", gateway: Gateway): Promise<void> {
  const child = spawn("sh", [rig.actuator, action, gateway.agent, String(gateway.port)], { stdio: "ignore" });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`actuate.sh ${action} ${gateway.agent} exited ${code}`);
}

/** The actuator's marks: "<action>-begin|end AGENT ms". */
export function readMarks(dir: string): { step: string; agent: string; at: number }[] {
  const file = join(dir, "marks");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [step, agent, at] = line.split(" ");
      return { step: step as string, agent: agent as string, at: Number(at) };
    });
}

/** The JSON log lines a sidecar started by the actuator wrote to its file. */
export function sidecarLog(rig: Rig, agent: string): LogLine[] {
  const file = join(rig.dir, agent, "sidecar.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .map(parseLogLine)
    .filter((l): l is LogLine => l !== undefined);
}
