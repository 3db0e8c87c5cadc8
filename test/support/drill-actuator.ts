import { spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { processAlive } from "@clawguard/shared/process";
import pg from "pg";
import { type ActionRecord, leaseKeys, redisCall } from "./drill.ts";
import { type GatewayState, gatewayCommand, killTree } from "./openclaw.ts";

/**
 * Test-only: the command actuator of failover drills. The collector runs
 *   node drill-actuator.ts --log F --redis URL --database URL --prefix P --state DIR --gateway-log F
 *                          [--slow PORT:MS | --openclaw SPEC] start|stop {agent} {port} {token}
 * It reads the lease from Redis and the newest granted fencing token from PostgreSQL, starts a gateway on the port (detached, its output appended to
 * --gateway-log) or kill -9s the one on that port with whatever it spawned, and appends what it
 * did, by whom (its parent: the collector) and under which token, to the log: the drill judges
 * from that log. The gateway is a stand-in on the state DIR (slow to get ready on --slow's port;
 * it writes DIR/pid-PORT once it holds the state's lock), or with --openclaw the real OpenClaw,
 * SPEC being a JSON file `{entry, state}` (ensureOpenClaw()'s entry, createState()'s state): DIR
 * then only holds the pid-PORT files, written here.
 */

const STAND_IN = fileURLToPath(
  new URL("../../collector/src/controller/stand-in-gateway.ts", import.meta.url),
);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    log: { type: "string" },
    redis: { type: "string" },
    database: { type: "string" },
    prefix: { type: "string" },
    state: { type: "string" },
    "gateway-log": { type: "string" },
    slow: { type: "string" },
    openclaw: { type: "string" },
  },
});
const [action, agent, port, token] = positionals as ["start" | "stop", string, string, string];
const state = values.state as string;
const keys = leaseKeys(values.prefix as string);

const at = Date.now();
const [[lease], fence] = await Promise.all([
  redisCall(values.redis as string, [["GET", keys.lease]]),
  grantedToken(values.database as string),
]);

/** The newest token a lease was granted with (the collector's durable fence, migration 5). */
async function grantedToken(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ granted: string }>(
      "SELECT granted FROM fencing WHERE name = 'controller'",
    );
    return Number(rows[0]?.granted ?? 0);
  } finally {
    await client.end();
  }
}

const pidFile = join(state, `pid-${port}`);
let pid: number | null = null;
if (action === "stop") {
  try {
    pid = Number(readFileSync(pidFile, "utf8"));
    if (processAlive(pid)) killTree(pid);
  } catch {
    // never started on this port
  }
} else if (action === "start") {
  const out = openSync(values["gateway-log"] as string, "a");
  let child: ReturnType<typeof spawn>;
  if (values.openclaw) {
    const spec = JSON.parse(readFileSync(values.openclaw, "utf8")) as { entry: string; state: GatewayState };
    const command = gatewayCommand(spec.entry, spec.state, Number(port));
    child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      detached: true,
      stdio: ["ignore", out, out],
    });
    if (child.pid !== undefined) writeFileSync(pidFile, String(child.pid));
  } else {
    const [slowPort, slowMs] = (values.slow ?? ":").split(":");
    child = spawn(
      process.execPath,
      [
        STAND_IN,
        "--port",
        port,
        "--state",
        state,
        ...(slowPort === port ? ["--ready-after-ms", slowMs as string] : []),
      ],
      { detached: true, stdio: ["ignore", out, out] },
    );
  }
  closeSync(out);
  child.unref();
  pid = child.pid ?? null;
} else {
  console.error(`drill-actuator: unknown action ${action}`);
  process.exit(2);
}

const record: ActionRecord = {
  at,
  action,
  agent,
  port: Number(port),
  token: Number(token),
  by: process.ppid,
  lease: lease as string | null,
  fence,
  pid,
};
appendFileSync(values.log as string, `${JSON.stringify(record)}\n`);
