import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";

/** The 1-minute load average when the bench started: figures from a busy machine say so. */
const loadAtStart = loadavg()[0] as number;

/** One measured figure beside the anchor measured in the same run. */
export interface Figure {
  name: string;
  value: string;
  anchor: string;
  ratio: string;
  target: string;
  /** undefined: informational, no target. */
  pass?: boolean;
  /** For the worst of repetitions: whether a bigger value is better (default: only for rates, "/s"). */
  higherIsBetter?: boolean;
}

export const progress = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** The p-th percentile of ascending `sorted` (nearest rank: p99 of 20 samples is the largest). */
export const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

/** Runs a program to completion; fails with its stderr when it exits non-zero. */
export function run(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: "ignore" | "pipe" } = {},
): Promise<{ ms: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", options.stdout ?? "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      if (stdout.length < 1 << 20) stdout += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      if (stderr.length < 1 << 20) stderr += c.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve({ ms, stdout, stderr });
      else reject(new Error(`${file} ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

export function printTable(figures: Figure[]): void {
  const cols = ["figure", "clawguard", "anchor (same run)", "ratio", "target", ""] as const;
  const rows = figures.map((f) => [
    f.name,
    f.value,
    f.anchor,
    f.ratio,
    f.target,
    f.pass === undefined ? "" : f.pass ? "PASS" : "MISS",
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  const cpu = cpus();
  console.log(`\nclawguard bench — node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? "cpu"}`);
  console.log(
    `load average (1 min): ${loadAtStart.toFixed(2)} at the start, ${(loadavg()[0] as number).toFixed(2)} at the end\n`,
  );
  console.log(line(cols));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(r));
}

/** A figure's leading number and the rest ("1,234.5 ms" -> 1234.5, " ms"); undefined if it has none. */
function numberOf(text: string): { n: number; digits: number; grouped: boolean; rest: string } | undefined {
  const m = /^(-?\d[\d,]*(?:\.(\d+))?)(.*)$/s.exec(text);
  if (!m) return undefined;
  const n = Number((m[1] as string).replaceAll(",", ""));
  if (!Number.isFinite(n)) return undefined;
  return { n, digits: m[2]?.length ?? 0, grouped: (m[1] as string).includes(","), rest: m[3] as string };
}

/** Median and worst of the same cell over repetitions: "0.62 s (worst 0.71)". */
function spread(cells: string[], higherIsBetter: boolean): string {
  const parsed = cells.map(numberOf);
  if (parsed.some((p) => p === undefined)) {
    const distinct = [...new Set(cells)];
    return distinct.length === 1 ? (distinct[0] as string) : `${distinct.join(" | ").slice(0, 80)}`;
  }
  const ps = parsed as NonNullable<ReturnType<typeof numberOf>>[];
  const first = ps[0] as NonNullable<ReturnType<typeof numberOf>>;
  const ns = ps.map((p) => p.n);
  const format = (n: number) =>
    first.grouped
      ? n.toLocaleString("en-US", {
          maximumFractionDigits: first.digits,
          minimumFractionDigits: first.digits,
        })
      : n.toFixed(first.digits);
  const worst = higherIsBetter ? Math.min(...ns) : Math.max(...ns);
  // The unit and note of the first run: a note that differs from run to run is dropped.
  const rest = ps.every((p) => p.rest === first.rest) ? first.rest : (/^\s*\S+/.exec(first.rest)?.[0] ?? "");
  return `${format(median(ns))}${rest} (worst ${format(worst)})`;
}

/**
 * One figure per name from `rounds` repetitions of the same benches: the median and the worst of
 * each number, and how many rounds met the target. A figure passes when at least 90 % of the
 * rounds did, rounded up (9 of 10, 3 of 3): a target is met by the distribution, not the best run.
 */
export function aggregate(rounds: Figure[][]): Figure[] {
  if (rounds.length === 1) return rounds[0] ?? [];
  const names = [...new Set(rounds.flat().map((f) => f.name))];
  return names.map((name) => {
    const runs = rounds.flatMap((r) => r.filter((f) => f.name === name));
    const first = runs[0] as Figure;
    const higher = first.higherIsBetter ?? /\/s\b/.test(first.value);
    const judged = runs.filter((f) => f.pass !== undefined);
    const passed = judged.filter((f) => f.pass).length;
    const needed = Math.ceil(judged.length * 0.9);
    const figure: Figure = {
      name: `${name} [${runs.length} runs]`,
      value: spread(
        runs.map((f) => f.value),
        higher,
      ),
      anchor: spread(
        runs.map((f) => f.anchor),
        higher,
      ),
      ratio: spread(
        runs.map((f) => f.ratio),
        higher,
      ),
      target: judged.length === 0 ? first.target : `${first.target} (${passed}/${judged.length} runs)`,
    };
    if (judged.length > 0) figure.pass = passed >= needed;
    return figure;
  });
}
