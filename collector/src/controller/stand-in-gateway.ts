import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { processAlive } from "@clawguard/shared/process";

/**
 * Test-only: a process standing in for an OpenClaw gateway in failover drills. Like the real one
 * it holds a single-instance lock on its state directory: a second gateway on the same state,
 * while the first lives, refuses to start (exit 3), so a drill that ever starts two shows it.
 * It may also be slow to start, like the real one (~13 s to /readyz): --ready-after-ms answers
 * 503 until then, with the lock already held.
 *   node stand-in-gateway.ts --port N --state DIR [--ready-after-ms MS]
 */
const { values } = parseArgs({
  options: { port: { type: "string" }, state: { type: "string" }, "ready-after-ms": { type: "string" } },
});
const readyAt = Date.now() + Number(values["ready-after-ms"] ?? 0);
const state = values.state as string;
const lock = join(state, "LOCK");

try {
  writeFileSync(lock, String(process.pid), { flag: "wx" });
} catch {
  const holder = Number(readFileSync(lock, "utf8"));
  if (processAlive(holder)) {
    console.error(`state ${state} is locked by pid ${holder}`);
    process.exit(3);
  }
  writeFileSync(lock, String(process.pid)); // the holder is gone: take over
}
writeFileSync(join(state, `pid-${values.port}`), String(process.pid));
createServer((_, res) => {
  const ready = Date.now() >= readyAt;
  res
    .writeHead(ready ? 200 : 503, { "content-type": "application/json" })
    .end(`{"ready":${ready},"port":${values.port}}`);
}).listen(Number(values.port), "127.0.0.1");
process.once("SIGTERM", () => {
  rmSync(lock, { force: true });
  process.exit(0);
});
