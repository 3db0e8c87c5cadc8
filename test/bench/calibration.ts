// Self-calibration of a model name in no table: the guard counts with its estimate for unknown
// names, the provider (here: a real tokenizer that runs locally) reports its own count with every
// answer, and after five calls the guard's corrected count of a sixth request is compared with the
// real one. Per kind of content, each after OpenClaw's stable prefix (agent system prompt + tools).
import { loadTokenizer, type Tokenizer, tokenizerFor } from "@clawguard/shared/tokens";
import { corpus } from "@clawguard/shared/tokens/fixtures/corpus";
import { Calibration, estimateOf } from "@clawguard/sidecar/sources/llm-proxy/calibration";
import type { Figure } from "./report.ts";

const UNKNOWN = "house-llm-7b-chat-v3";
/** The provider's real tokenizers this runs against (a house model is often one of these underneath). */
const PROVIDERS = ["qwen3-32b", "llama-3.1-8b-instruct", "gpt-4.1"];
const KINDS = ["prose-en", "prose-zh", "code-ts", "json-pretty", "server-log", "diff"];
const CALLS = 5;

export async function benchCalibration(): Promise<Figure[]> {
  const guard = tokenizerFor(UNKNOWN);
  const text = (name: string) => corpus().find((e) => e.name === name)?.text ?? "";
  const prefix = `${text("agent-system-prompt")}\n${text("agent-tool-schemas")}`;
  const figures: Figure[] = [];
  for (const model of PROVIDERS) {
    const real = await loadTokenizer(model);
    const rows = KINDS.map((kind) => calibrate(guard, real, prefix, text(kind), kind));
    const before = rows.map((r) => r.before);
    const after = rows.map((r) => r.after);
    const top = rows.map((r) => r.top);
    figures.push({
      name: `calibration: "${UNKNOWN}" (${guard.name}) against ${real.name}, before / after ${CALLS} calls, worst kind`,
      value: `${Math.max(...before).toFixed(3)} / ${Math.min(...after).toFixed(3)}-${Math.max(...after).toFixed(3)}`,
      anchor: rows.map((r) => `${r.kind} ${r.before.toFixed(2)}->${r.after.toFixed(3)}`).join(", "),
      ratio: `with error ${Math.min(...top).toFixed(3)}-${Math.max(...top).toFixed(3)}`,
      target: "before <= 1.30; after 1.00-1.05",
      pass: Math.max(...before) <= 1.3 && Math.min(...after) >= 0.99 && Math.max(...after) <= 1.05,
    });
  }
  return figures;
}

/** Five calls of `content` after `prefix` (growing), then the sixth: guard / real, before and after. */
function calibrate(guard: Tokenizer, real: Tokenizer, prefix: string, content: string, kind: string) {
  const book = new Calibration();
  const prefixRaw = guard.count(prefix);
  const call = (i: number) => {
    const rest = Array.from({ length: i }, (_, j) => `${j}: ${content}`).join("\n");
    return { total: prefixRaw + guard.count(rest), real: real.count(prefix) + real.count(rest) };
  };
  for (let i = 1; i <= CALLS; i++) {
    const { total, real: reported } = call(i);
    book.record(
      "p",
      UNKNOWN,
      { name: guard.name, bound: guard.margin },
      { prefix: prefixRaw, total },
      reported,
    );
  }
  const next = call(CALLS + 1);
  const c = book.correction("p", UNKNOWN, guard.name, guard.margin, prefixRaw);
  const { estimate, error } = estimateOf(next.total, c);
  return {
    kind,
    before: next.total / next.real,
    after: estimate / next.real,
    top: (estimate + error) / next.real,
  };
}
