import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { connectOnce } from "@clawguard/shared/net";
import { asPostgres, asRoot, postgresUser } from "@clawguard/shared/testing";
import pg from "pg";
import { freePort } from "./processes.ts";

/**
 * Test-only: a PostgreSQL and a Redis of a drill's own, on ports of their own, to restart, kill
 * and flush (never the shared servers on 5432 and 6379). PostgreSQL refuses to run as root: when
 * the tests run as root, its commands run as the `postgres` user (setpriv).
 */

const run = promisify(execFile);

function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  const found = versions.find((v) => existsSync(join(root, v, "bin", "initdb")));
  return found ? join(root, found, "bin") : undefined;
}

/** Why a private PostgreSQL cannot run here, or undefined when it can. */
export function privatePostgresMissing(): string | undefined {
  if (!postgresBin()) return "no /usr/lib/postgresql/*/bin/initdb";
  if (asRoot() && !postgresUser()) return "running as root and there is no postgres user";
  if (asRoot() && !existsSync("/usr/bin/setpriv")) return "running as root and there is no setpriv";
  return undefined;
}

export interface PrivatePostgres {
  url: string;
  port: number;
  /** pg_ctl restart -m immediate: every backend killed at once, crash recovery on the way up. */
  restartImmediate(): Promise<void>;
  stopImmediate(): Promise<void>;
  start(): Promise<void>;
  /** pg_terminate_backend on every other connection to the drill's database; how many. */
  terminateBackends(): Promise<number>;
  /** SIGSTOP (pause) or SIGCONT (resume) to the postmaster and every backend: a server that hangs. */
  signalAll(signal: "SIGSTOP" | "SIGCONT"): void;
  /** Stops the server (by its postmaster's PID if pg_ctl cannot) and removes its directory. */
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin() as string;
  const dir = mkdtempSync("/tmp/cg-pg-");
  const data = join(dir, "data");
  const user = postgresUser();
  if (asRoot() && user) chownSync(dir, user.uid, user.gid);
  const as = (file: string, args: string[]) => run(...asPostgres(join(bin, file), args));
  await as("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  // fsync off: the drill kills processes, never the machine; the WAL in the page cache survives.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const log = join(dir, "log");
  const start = async () => {
    await as("pg_ctl", ["-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"]);
  };
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const postmaster = () => {
    try {
      return Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    } catch {
      return undefined;
    }
  };
  return {
    url,
    port,
    restartImmediate: async () => {
      await as("pg_ctl", [
        "-D",
        data,
        "-l",
        log,
        "-o",
        options,
        "-m",
        "immediate",
        "-w",
        "-t",
        "60",
        "restart",
      ]);
    },
    stopImmediate: async () => {
      await as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "60", "stop"]);
    },
    start,
    terminateBackends: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        );
        return rows.length;
      } finally {
        await client.end();
      }
    },
    signalAll: (signal) => {
      const root = postmaster();
      if (!root) throw new Error("private postgres: no postmaster.pid");
      for (const pid of [root, ...childrenOf(root)]) signalQuietly(pid, signal);
    },
    destroy: async () => {
      const pid = postmaster();
      if (pid) for (const p of [pid, ...childrenOf(pid)]) signalQuietly(p, "SIGCONT");
      await as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "20", "stop"]).catch(() => {
        if (pid) signalQuietly(pid, "SIGKILL");
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(" ")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

export interface PrivateRedis {
  url: string;
  port: number;
  pid(): number;
  /** SIGKILL by PID, then a new empty server on the same port (no persistence: all data gone). */
  restartEmpty(): Promise<void>;
  destroy(): Promise<void>;
}

export function privateRedisMissing(): string | undefined {
  return existsSync("/usr/bin/redis-server") ? undefined : "no /usr/bin/redis-server";
}

/** `args`: more redis-server options, e.g. ["--maxmemory-policy", "allkeys-lru"]. */
export async function startPrivateRedis(args: string[] = []): Promise<PrivateRedis> {
  const dir = mkdtempSync("/tmp/cg-redis-");
  const port = await freePort();
  let child: ChildProcess;
  const spawnServer = async () => {
    child = spawn(
      "/usr/bin/redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        ...args,
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      if ((await connectOnce("127.0.0.1", port, 500)).open) return;
      if (Date.now() > deadline) throw new Error(`private redis on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(child.pid as number, "SIGKILL");
    await exited;
  };
  await spawnServer();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => child.pid as number,
    restartEmpty: async () => {
      await kill();
      await spawnServer();
    },
    destroy: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
