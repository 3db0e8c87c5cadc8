/**
 * Test helper, run as a child process by the crash and lock tests: one decay run of a workspace,
 * set up by environment variables (a test fixture, not production code):
 *   DECAY_WS, DECAY_NOW (ISO time), DECAY_CONFIG (JSON)   what to decay
 *   DECAY_KILL_AT=N    SIGKILL this process right after its Nth change on disk
 *   DECAY_PAUSE_AT=N   after the Nth change, print "paused" and wait to be killed
 *   DECAY_EVENTS=FILE  append every reported event to FILE as a JSON line
 * Prints "started" at its first change on disk and "done <steps> <runs>" when it completes.
 */
import { appendFileSync } from "node:fs";
import { runDecay } from "./index.ts";

const env = process.env;
const killAt = Number(env.DECAY_KILL_AT ?? 0);
const pauseAt = Number(env.DECAY_PAUSE_AT ?? 0);
let steps = 0;

const { results } = await runDecay({
  workspace: env.DECAY_WS as string,
  now: new Date(env.DECAY_NOW as string),
  config: JSON.parse(env.DECAY_CONFIG ?? "{}"),
  onEvent: (e) => {
    if (env.DECAY_EVENTS) appendFileSync(env.DECAY_EVENTS, `${JSON.stringify(e.attrs)}\n`);
  },
  onStep: (n) => {
    steps = n;
    if (n === 1) process.stdout.write("started\n");
    if (n === killAt) process.kill(process.pid, "SIGKILL");
    if (n === pauseAt) {
      process.stdout.write("paused\n");
      // Block right here, holding the lock mid-run, until the test kills us.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    }
  },
});
process.stdout.write(`done ${steps} ${results.length}\n`);
