// The context guard for big requests, in a worker thread: parsing, counting and trimming a request
// of megabytes takes longer than the sidecar's event loop may wait (other calls, probes, shipping).
// One job at a time, in order; what the guard publishes (events, health counts, logs) goes back
// with its decision, for the main thread to apply.
import { parentPort, workerData } from "node:worker_threads";
import type { Level } from "@clawguard/shared/log";
import { loadTokenizer } from "@clawguard/shared/tokens";
import { SpillStore } from "../exec-guard/spill.ts";
import { Calibration, type Counted } from "./calibration.ts";
import { createGuard, type Guarded, guardRequest, type Harder } from "./guard.ts";
import type { GuardJob, GuardLater, GuardReply } from "./guard-pool.ts";
import { FAMILIES, type Provider } from "./providers.ts";
import { estimateFor, tokenizerFor, tokenizerSetting } from "./tokenizer.ts";

/**
 * Jobs the main thread has posted (it adds one before each), and jobs begun here: a spare-time count
 * stops as soon as a job waits.
 */
const posted = new Int32Array(workerData as SharedArrayBuffer);
let begun = 0;

/** A decision and, when the estimate decided, the exact count still to make in spare time. */
interface Outcome {
  reply: GuardReply;
  later?: () => Counted | undefined;
}

async function run(job: GuardJob): Promise<Outcome> {
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
    estimateFor: (model, on) => estimateFor(model, tokenizerSetting(on, model)),
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
  if (job.retry) return { reply: { ...reply, harder: await retry(guard, provider, text, job.retry) } };
  const outcome = await guardRequest(guard, provider, text, job.headers);
  if (outcome.invalid !== undefined) reply.invalid = outcome.invalid;
  const guarded = outcome.guarded;
  if (!guarded) return { reply };
  const { body: _body, counter, countedLater: _later, ...rest } = guarded;
  reply.guarded = {
    ...rest,
    ...(counter ? { counter: { name: counter.name, exact: counter.exact, margin: counter.margin } } : {}),
  };
  if (guarded.decidedBy === undefined || !counter) return { reply };
  return { reply: { ...reply, later: true }, later: () => countInSpareTime(guard, provider, guarded, text) };
}

/** A retry's trim, with the counter the main thread counted with (else it refuses: units differ). */
async function retry(
  guard: ReturnType<typeof createGuard>,
  provider: Provider,
  text: string,
  { guarded, overflow }: NonNullable<GuardJob["retry"]>,
): Promise<Harder> {
  const model = guarded.model ?? "";
  const setting = tokenizerSetting(provider, model);
  if (guarded.exact) await loadTokenizer(model, setting); // a family's vocabulary, as it was there
  const counter = tokenizerFor(model, guarded.exact ? 0 : Number.MAX_SAFE_INTEGER, setting);
  if (counter.name !== guarded.counter)
    throw new Error(`counter ${guarded.counter} expected, ${counter.name} found in the guard worker`);
  return guard.harder(provider, text, { ...guarded, stream: false, counter }, overflow);
}

class Preempted extends Error {}

/**
 * The exact count the estimate made unnecessary before the call: for calibration, and so that the
 * next turn finds this one's texts counted (memo.ts). It gives way to the next job: each text's count
 * first checks that none was posted meanwhile.
 */
function countInSpareTime(
  guard: ReturnType<typeof createGuard>,
  provider: Provider,
  guarded: Guarded,
  text: string,
): Counted | undefined {
  const counter = guarded.counter;
  if (!counter) return undefined;
  const yielding = {
    ...counter,
    count: (t: string) => {
      if (Atomics.load(posted, 0) !== begun) throw new Preempted();
      return counter.count(t);
    },
  };
  try {
    return guard.countAfter(provider, { ...guarded, counter: yielding }, text);
  } catch (err) {
    if (err instanceof Preempted) return undefined;
    throw err;
  }
}

function never(): never {
  throw new Error("no child loggers in the guard worker");
}

let queue = Promise.resolve();
parentPort?.on("message", (job: GuardJob) => {
  queue = queue.then(async () => {
    begun++;
    let outcome: Outcome;
    try {
      outcome = await run(job);
    } catch (err) {
      outcome = { reply: { id: job.id, events: [], counts: [], logs: [], error: (err as Error).message } };
    }
    parentPort?.postMessage(outcome.reply);
    if (!outcome.later) return;
    let counted: Counted | undefined;
    try {
      counted = outcome.later();
    } catch {
      counted = undefined; // a sample lost, nothing else
    }
    parentPort?.postMessage({ id: job.id, counted } satisfies GuardLater);
  });
});
