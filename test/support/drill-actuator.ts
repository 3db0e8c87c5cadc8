import { spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { processAlive } from "@clawguard/shared/process";
import { type ActionRecord, leaseKeys, redisCall } from "./drill.ts";

/**
 * Test-only: the command actuator of failover drills with collector replicas. The collector runs
 *   node drill-actuator.ts --log F --redis URL --prefix P --state DIR --gateway-log F [--slow PORT:MS]
 *                          start|stop {agent} {port} {token}
 * It reads the lease from Redis, starts a stand-in gateway on the state (detached; slow to get
 * ready on --slow's port) or kill -9s the one on that port, and appends what it did, by whom
 * (its parent: the collector) and under which token, to the log: the drill judges from that log.
 */

const STAND_IN = fileURLToPath(
  new URL("../../collector/src/controller/stand-in-gateway.ts", import.meta.url),
);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    log: { type: "string" },
    redis: { type: "string" },
    prefix: { type: "string" },
    state: { type: "string" },
    "gateway-log": { type: "string" },
    slow: { type: "string" },
  },
});
const [action, agent, port, token] = positionals as ["start" | "stop", string, string, string];
const state = values.state as string;
const keys = leaseKeys(values.prefix as string);

const at = Date.now();
const [lease, fence] = await redisCall(values.redis as string, [
  ["GET", keys.lease],
  ["GET", keys.fence],
]);

let pid: number | null = null;
if (action === "stop") {
  try {
    pid = Number(readFileSync(join(state, `pid-${port}`), "utf8"));
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
  } catch {
    // never started on this port
  }
} else if (action === "start") {
  const [slowPort, slowMs] = (values.slow ?? ":").split(":");
  const out = openSync(values["gateway-log"] as string, "a");
  const child = spawn(
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
  fence: Number(fence ?? 0),
  pid,
};
appendFileSync(values.log as string, `${JSON.stringify(record)}\n`);
