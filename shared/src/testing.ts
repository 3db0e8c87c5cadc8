import { spawn } from "node:child_process";
import { once } from "node:events";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** Test-only helpers shared by every package's tests. Never imported by production code. */

export function tempDir(prefix = "clawguard-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A test dependency is not there. In CI (CI=true) that fails the run; elsewhere the tests that
 * need it are skipped, with a warning.
 */
export function missing(what: string, where: string, why: string): false {
  if (process.env.CI === "true") throw new Error(`${what} is required in CI but ${where} is ${why}`);
  console.warn(`[clawguard tests] ${what} at ${where} is ${why}: the tests that need it are skipped`);
  return false;
}

/** The server tests create their databases on; CLAWGUARD_TEST_PG overrides it. */
export const TEST_PG = process.env.CLAWGUARD_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

let reachable: Promise<boolean> | undefined;

/**
 * Whether PostgreSQL is there. In CI (CI=true) it must be: a missing server fails the run instead
 * of skipping the suites that need it.
 */
export function postgresAvailable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_PG, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch (err) {
      return missing("PostgreSQL", TEST_PG, `unreachable (${(err as Error).message})`);
    }
  })();
  return reachable;
}

/** A fresh, empty database for one suite; `drop()` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `clawguard_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_PG);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_PG });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** A seeded PRNG (mulberry32): the same seed gives the same test data everywhere. Test-only. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The I/O a CLI command is handed: the shape of the sidecar's `Io`, here so every package's tests can drive one. */
interface CommandIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: (text: string | Uint8Array) => void;
  err: (text: string) => void;
}

/** Runs a CLI command with its output captured: what a test sees of `clawguard <command> ARGS`. Test-only. */
export async function runCommand(
  command: { run(args: string[], io: CommandIo): Promise<number> },
  args: string[],
  where: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await command.run(args, {
    env: where.env ?? {},
    cwd: where.cwd,
    out: (text) => {
      out += typeof text === "string" ? text : Buffer.from(text).toString("utf8");
    },
    err: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}

/** The `postgres` user's ids, for what refuses to run as root (PostgreSQL, PgBouncer). */
export function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.startsWith("postgres:"));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(":");
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

export const asRoot = () => userInfo().uid === 0;

/** `file args` as the postgres user when the tests run as root (setpriv), else as they are. */
export function asPostgres(file: string, args: string[]): [string, string[]] {
  return asRoot()
    ? ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", file, ...args]]
    : [file, args];
}

const PGBOUNCER = "/usr/sbin/pgbouncer";

/** Why a PgBouncer cannot run here (Debian's `pgbouncer`), or undefined when it can. */
export function pgBouncerMissing(): string | undefined {
  if (!existsSync(PGBOUNCER)) return `no ${PGBOUNCER} (apt-get install pgbouncer)`;
  if (asRoot() && !postgresUser()) return "running as root and there is no postgres user";
  return undefined;
}

/**
 * A PgBouncer of the caller's own in front of the server of `url`, in transaction pooling (each
 * transaction on whichever server connection is free: session state does not carry over, and
 * startup parameters it does not know are refused). On a Unix socket in its own directory: no port
 * to race for. Returns `url` (same database) through it, and how to stop it (by PID).
 */
export async function startPgBouncer(url: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "cg-pgbouncer-"));
  const server = new URL(url);
  const ini = join(dir, "pgbouncer.ini");
  const config = [
    "[databases]",
    `* = host=${server.hostname} port=${server.port || 5432} user=${decodeURIComponent(server.username) || "postgres"}`,
    "[pgbouncer]",
    "listen_addr =",
    `unix_socket_dir = ${dir}`,
    "listen_port = 6432",
    "auth_type = any",
    "pool_mode = transaction",
    "max_client_conn = 200",
    "default_pool_size = 20",
    `logfile = ${join(dir, "log")}`,
  ];
  writeFileSync(ini, `${config.join("\n")}\n`);
  const user = postgresUser();
  if (asRoot() && user) chownSync(dir, user.uid, user.gid);
  const [file, args] = asPostgres(PGBOUNCER, [ini]);
  const child = spawn(file, args, { stdio: "ignore" });
  const exited = once(child, "exit");
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!existsSync(join(dir, ".s.PGSQL.6432"))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8") : "";
      await stop();
      throw new Error(`pgbouncer did not start: ${log.trim().split("\n").slice(-3).join("; ")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const through = `postgres://${server.username || "postgres"}@localhost${server.pathname}?host=${encodeURIComponent(dir)}&port=6432`;
  return { url: through, stop };
}
