import { describe, expect, it } from "vitest";
import { type Adversarial, adversarialInputs, GENERIC_INPUTS } from "./corpus/adversarial.ts";
import { findSecretsInBytes, redactText, SECRET_PATTERNS } from "./index.ts";
import { LineRedactor } from "./lines.ts";
import { SECRET_BLOCK } from "./patterns.ts";

/**
 * Every redaction pattern, and the whole redactor, on inputs made to drive a backtracking engine
 * hard (corpus/adversarial.ts), at 50 KB and at 200 KB: linear time takes ~4 times as long on the
 * larger, quadratic ~16 times. Wall-clock time screens (an input whose 50 KB go fast enough passes,
 * so does one whose 200 KB take less than TIMED_FROM_MS); a suspect is timed again in this thread's
 * CPU time, summed over runs of at least CPU_SAMPLE_MS, so that a loaded machine (other processes
 * preempting this one) does not count. The absolute bound is generous: 200 KB within a second.
 */
const SMALL = 50_000;
const LARGE = 200_000;
/** Linear is 4; this leaves room for noise, quadratic is 16. */
const MAX_RATIO = 8;
/** Below this (ms for LARGE), no ratio is judged: even a quadratic shape is harmless then. */
const TIMED_FROM_MS = 8;
const MAX_LARGE_MS = 1000;
/** CPU time is read from a clock updated at the scheduler's ticks: sum enough runs to read it well. */
const CPU_SAMPLE_MS = 60;

function wallMs(fn: (text: string) => unknown, text: string, runs: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    fn(text);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

/** Samples taken of a suspect's CPU time; the least is judged. */
const CPU_SAMPLES = 3;

/**
 * This thread's CPU time for one run of `fn` on `text`: averaged over CPU_SAMPLE_MS or more, the
 * least of CPU_SAMPLES such averages. A collection of the heap falls in some runs and not others
 * (a 200 KB run takes 20 ms, or 45 with a major collection in it), and a run the JIT has not yet
 * optimised is slower: the least sample is the redactor's own time, which a quadratic shape would
 * still make ~16 times as long.
 */
function cpuMs(fn: (text: string) => unknown, text: string): number {
  let least = Number.POSITIVE_INFINITY;
  for (let sample = 0; sample < CPU_SAMPLES; sample++) {
    const before = process.threadCpuUsage();
    let runs = 0;
    let spent = 0;
    do {
      fn(text);
      runs++;
      const used = process.threadCpuUsage(before);
      spent = (used.user + used.system) / 1000;
    } while (spent < CPU_SAMPLE_MS);
    least = Math.min(least, spent / runs);
  }
  return least;
}

/**
 * A second opinion on a step from 50 KB to 200 KB: the next quadrupling, 200 KB to 800 KB. The heap
 * can make one step cost more than its size: a buffer or string past ~128 KB goes to V8's
 * large-object space, which only a major collection frees (the hexdump input as UTF-16LE: 2.9,
 * 23.0 and 73-80 ms of CPU at 50, 200 and 800 KB: x8 and then x3.4). A quadratic shape is ~16
 * times as long at every quadrupling, so it fails this one too.
 */
function confirmedLinear(fn: (text: string) => unknown, input: Adversarial, largeCpu: number): boolean {
  return cpuMs(fn, input.make(LARGE * 4)) / largeCpu <= MAX_RATIO;
}

/**
 * What is wrong with `fn`'s time on `input`, or undefined. Inputs whose 50 KB take less than
 * `screenMs` pass without timing 200 KB.
 */
function superLinear(
  fn: (text: string) => unknown,
  input: Adversarial,
  screenMs: number,
): string | undefined {
  const small = input.make(SMALL);
  const smallMs = wallMs(fn, small, 2);
  // Already too slow at 50 KB: said without waiting ~16 times as long for 200 KB.
  if (smallMs > MAX_LARGE_MS / 4) {
    const cpu = cpuMs(fn, small);
    if (cpu > MAX_LARGE_MS / 4) return `${input.name}: ${cpu.toFixed(0)} ms of CPU for ${SMALL} characters`;
  }
  if (smallMs < screenMs) return undefined;
  const large = input.make(LARGE);
  const largeMs = wallMs(fn, large, 1);
  if (largeMs < TIMED_FROM_MS || (largeMs / smallMs <= MAX_RATIO && largeMs <= MAX_LARGE_MS))
    return undefined;
  const smallCpu = cpuMs(fn, small);
  const largeCpu = cpuMs(fn, large);
  const ratio = largeCpu / smallCpu;
  if (largeCpu > MAX_LARGE_MS)
    return `${input.name}: ${largeCpu.toFixed(0)} ms of CPU for ${LARGE} characters`;
  if (ratio <= MAX_RATIO || confirmedLinear(fn, input, largeCpu)) return undefined;
  return `${input.name}: ${smallCpu.toFixed(1)} ms of CPU for ${SMALL} characters, ${largeCpu.toFixed(1)} ms for ${LARGE} (x${ratio.toFixed(1)})`;
}

/** Every match of one pattern alone, as the redactor runs it (global, from each match's end). */
function scanWith(pattern: RegExp): (text: string) => number {
  const global = new RegExp(pattern.source, `${pattern.flags.replace(/[gy]/g, "")}g`);
  return (text) => {
    let n = 0;
    global.lastIndex = 0;
    for (let m = global.exec(text); m !== null; m = global.exec(text)) {
      n++;
      if (m[0].length === 0) global.lastIndex++;
    }
    return n;
  };
}

const PATTERNS = [...SECRET_PATTERNS, SECRET_BLOCK];
const label = (i: number) => `${PATTERNS[i]?.name} #${i}: /${PATTERNS[i]?.pattern.source.slice(0, 60)}…/`;

describe("redaction runs in linear time on adversarial input", () => {
  it("makes adversarial inputs of every pattern's own shape", () => {
    const jwt = SECRET_PATTERNS.find((p) => p.name === "jwt");
    const names = adversarialInputs(jwt?.pattern ?? /x/).map((a) => a.name);
    expect(names).toContain('prefix "eyJ" repeated');
    for (const p of PATTERNS) expect(adversarialInputs(p.pattern).length).toBeGreaterThan(0);
  });

  it("each pattern alone: 200 KB takes about 4x the time of 50 KB, never 16x", () => {
    const problems: string[] = [];
    PATTERNS.forEach((p, i) => {
      const scan = scanWith(p.pattern);
      for (const input of adversarialInputs(p.pattern)) {
        const problem = superLinear(scan, input, 0.5);
        if (problem) problems.push(`${label(i)} ${problem}`);
      }
    });
    expect(problems.join("\n")).toBe("");
  }, 300_000);

  it("the whole redactor, on every pattern's inputs and generic ones", () => {
    const inputs = new Map<string, Adversarial>();
    for (const p of PATTERNS) {
      for (const input of adversarialInputs(p.pattern)) inputs.set(input.make(64), input);
    }
    for (const input of GENERIC_INPUTS) inputs.set(input.make(64), input);
    const problems: string[] = [];
    for (const input of inputs.values()) {
      const problem = superLinear(redactText, input, 2);
      if (problem) problems.push(problem);
    }
    expect(problems.join("\n")).toBe("");
  }, 300_000);

  it("line by line, and as bytes with NULs (UTF-16LE), on the generic inputs", () => {
    const byLine = (text: string) => {
      const lines = new LineRedactor();
      for (const line of text.split("\n")) lines.redact(line);
    };
    const wide = (text: string) => findSecretsInBytes(Buffer.from(text, "utf16le"));
    const problems: string[] = [];
    for (const input of GENERIC_INPUTS) {
      for (const [name, fn] of [
        ["lines", byLine],
        ["utf-16", wide],
      ] as const) {
        const problem = superLinear(fn, input, 2);
        if (problem) problems.push(`${name}: ${problem}`);
      }
    }
    expect(problems.join("\n")).toBe("");
  }, 300_000);
});
