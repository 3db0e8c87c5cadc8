// The context guard for big requests, in a worker thread: parsing, counting and trimming a request
// of megabytes takes longer than the sidecar's event loop may wait (other calls, probes, shipping).
// One job at a time, in order; what the guard publishes (events, health counts, logs) goes back
// with its decision, for the main thread to apply.
import { parentPort } from "node:worker_threads";
import type { Level } from "@clawguard/shared/log";
import { SpillStore } from "../exec-guard/spill.ts";
import { Calibration } from "./calibration.ts";
import { createGuard, guardRequest } from "./guard.ts";
import type { GuardJob, GuardReply } from "./guard-pool.ts";
import { FAMILIES, type Provider } from "./providers.ts";
import { tokenizerFor, tokenizerSetting } from "./tokenizer.ts";

async function run(job: GuardJob): Promise<GuardReply> {
  const reply: GuardReply = { id: job.id, events: [], counts: [], logs: [] };
  const p = job.provider;
  const provider: Provider = {
    id: p.id,
    family: FAMILIES[p.api],
    upstream: new URL(p.upstream),
    models: new Map(p.models),
    defaultContextWindow: p.defaultContextWindow,
    tokenizer: p.tokenizer,
  };
  const log = (level: Level) => (msg: string, fields?: Record<string, unknown>) =>
    void reply.logs.push([level, msg, fields ?? {}]);
  const guard = createGuard({
    config: job.config,
    tokenizerFor: (model, bytes, on) => tokenizerFor(model, bytes, tokenizerSetting(on, model)),
    calibration: Calibration.fromSnapshot(job.calibration),
    spill: new SpillStore(job.spillDir, job.spillWorkspace),
    agent: job.agent,
    alwaysCount: true,
    event: (type, severity, attrs) => void reply.events.push({ type, severity, attrs }),
    counted: (_provider, what) => void reply.counts.push(what),
    log: {
      debug: log("debug"),
      info: log("info"),
      warn: log("warn"),
      error: log("error"),
      child: () => never(),
    },
  });
  const text = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength).toString("utf8");
  const outcome = await guardRequest(guard, provider, text, job.headers);
  if (outcome.invalid !== undefined) reply.invalid = outcome.invalid;
  if (outcome.guarded) {
    const { body: _body, counter, ...rest } = outcome.guarded;
    reply.guarded = {
      ...rest,
      ...(counter ? { counter: { name: counter.name, exact: counter.exact, margin: counter.margin } } : {}),
    };
  }
  return reply;
}

function never(): never {
  throw new Error("no child loggers in the guard worker");
}

let queue = Promise.resolve();
parentPort?.on("message", (job: GuardJob) => {
  queue = queue.then(async () => {
    try {
      parentPort?.postMessage(await run(job));
    } catch (err) {
      parentPort?.postMessage({
        id: job.id,
        events: [],
        counts: [],
        logs: [],
        error: (err as Error).message,
      });
    }
  });
});
