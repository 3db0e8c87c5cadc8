import { randomInt } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { redactText } from "@clawguard/shared/redact";
import {
  measureRecall,
  measureUntouched,
  ordinaryCorpus,
  secretCorpus,
} from "@clawguard/shared/redact/corpus";
import { tempDir } from "@clawguard/shared/testing";
import { type Figure, median, progress, run } from "./report.ts";

const ROOT = join(import.meta.dirname, "../..");

/** This repository's TypeScript, less tests (they hold fake secrets on purpose). */
function sourceLines(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "node_modules" && e.name !== "redact") walk(path);
      } else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) {
        out.push(...readFileSync(path, "utf8").split("\n"));
      }
    }
  };
  for (const dir of ["shared/src", "sidecar/src", "collector/src"]) walk(join(ROOT, dir));
  return out;
}

/** MB/s of `fn` over `text`, the median of `runs` timed passes. */
function rate(text: string, runs: number, fn: (text: string) => unknown): number {
  const mb = Buffer.byteLength(text) / 1e6;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    fn(text);
    samples.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  return mb / median(samples);
}

const pct = (n: number, total: number) => `${((100 * n) / total).toFixed(2)} %`;

/**
 * Redaction: recall on fresh generated secrets, ordinary lines left alone, and throughput over
 * command output (source, logs, ~1 % secrets) beside a plain regex scan and `grep -c` of the same bytes.
 */
export async function benchRedact(options: { runs: number }): Promise<Figure[]> {
  const seed = randomInt(2 ** 31);
  progress(`redact: corpus seed ${seed}`);
  const samples = secretCorpus(seed, 4);
  const recall = measureRecall(samples, redactText);
  const worstShape = Object.entries(recall.byShape)
    .map(([shape, r]) => ({ shape, share: r.caught / r.total }))
    .sort((a, b) => a.share - b.share)[0];
  const ordinary = measureUntouched(ordinaryCorpus(seed, 20_000), redactText);
  const source = sourceLines();
  const sourceResult = measureUntouched(source, redactText);

  // ~8 MB of output: source and log lines with a secret line in every ~100.
  const ordinaryLines = ordinaryCorpus(seed + 1, 20_000);
  const mixed: string[] = [];
  let size = 0;
  for (let i = 0; size < 8e6; i++) {
    const line =
      i % 100 === 99
        ? (samples[i % samples.length]?.text ?? "")
        : i % 2
          ? (source[i % source.length] ?? "")
          : (ordinaryLines[i % ordinaryLines.length] ?? "");
    mixed.push(line);
    size += line.length + 1;
  }
  const text = `${mixed.join("\n")}\n`;
  const runs = Math.max(3, options.runs);
  progress(`redact: ${(size / 1e6).toFixed(1)} MB, ${runs} runs`);
  const scan = /[A-Za-z0-9_+/=-]{20,}/g;
  const anchorRate = rate(text, runs, (t) => t.match(scan)?.length);
  const redactRate = rate(text, runs, redactText);
  const page = text.slice(0, 16 * 1024);
  const pageMs = (1000 * Buffer.byteLength(page)) / 1e6 / rate(page, 50, redactText);

  const tmp = tempDir("clawguard-bench-redact-");
  let grepRate = 0;
  try {
    const file = join(tmp.path, "output.txt");
    writeFileSync(file, text);
    const grepMs: number[] = [];
    for (let i = 0; i < runs; i++)
      grepMs.push((await run("grep", ["-cE", "[A-Za-z0-9_+/=-]{20,}", file])).ms);
    grepRate = Buffer.byteLength(text) / 1e6 / (median(grepMs) / 1000);
  } finally {
    tmp.cleanup();
  }

  return [
    {
      name: `redact recall: ${recall.total} fresh secrets, ${Object.keys(recall.byFamily).length} families`,
      value: pct(recall.caught, recall.total),
      higherIsBetter: true,
      anchor: `worst shape ${worstShape?.shape}: ${((worstShape?.share ?? 0) * 100).toFixed(1)} %`,
      ratio: "-",
      target: ">= 95 %",
      pass: recall.caught / recall.total >= 0.95 && (worstShape?.share ?? 0) >= 0.9,
    },
    {
      name: `redact precision: ordinary lines untouched (${ordinary.total})`,
      value: pct(ordinary.untouched, ordinary.total),
      higherIsBetter: true,
      anchor: `repo source ${sourceResult.untouched}/${sourceResult.total}`,
      ratio: "-",
      target: ">= 99.5 %",
      pass: ordinary.untouched / ordinary.total >= 0.995 && sourceResult.untouched === sourceResult.total,
    },
    {
      name: "redact throughput, mixed output (1 % secret lines)",
      value: `${redactRate.toFixed(1)} MB/s`,
      anchor: `${anchorRate.toFixed(0)} MB/s regex scan; ${grepRate.toFixed(0)} MB/s grep -cE`,
      ratio: (redactRate / anchorRate).toFixed(3),
      target: ">= 10 MB/s",
      pass: redactRate >= 10,
    },
    {
      name: "redact one 16 KiB read page",
      value: `${pageMs.toFixed(2)} ms`,
      anchor: "-",
      ratio: "-",
      target: "-",
    },
  ];
}
