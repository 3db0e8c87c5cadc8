import { spawn } from "node:child_process";
import { cpus } from "node:os";

/** One measured figure beside the anchor measured in the same run. */
export interface Figure {
  name: string;
  value: string;
  anchor: string;
  ratio: string;
  target: string;
  /** undefined: informational, no target. */
  pass?: boolean;
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
  console.log(`\nclawguard bench — node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? "cpu"}\n`);
  console.log(line(cols));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(r));
}
