import { setImmediate as turn } from "node:timers/promises";

/**
 * The Prometheus text format (0.0.4), written a piece at a time: the writer gives the event loop
 * back every SLICE_MS of work, so a scrape of thousands of agents never holds up ingest, heartbeats
 * or /readyz for long (prom-client renders each metric in one synchronous pass: 1.6 to 9 s for a
 * few hundred heavy agents).
 */

export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
  /** `_bucket`, `_sum`, `_count` of a histogram. */
  suffix?: string;
}

export const SLICE_MS = 5;

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

/** Text is turned into bytes this much at a time (one 38 MB conversion held the loop 100-250 ms). */
const CHUNK_CHARS = 64 * 1024;

export class ExpositionWriter {
  readonly #chunks: Buffer[] = [];
  #pending = "";
  #since = performance.now();

  family(name: string, help: string, type: "gauge" | "counter" | "histogram"): void {
    this.#append(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`);
  }

  samples(name: string, samples: readonly Sample[]): void {
    for (const s of samples) {
      let labels = "";
      for (const k in s.labels) labels += `${labels ? "," : ""}${k}="${escapeLabel(s.labels[k] as string)}"`;
      this.#append(`${name}${s.suffix ?? ""}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}\n`);
    }
  }

  #append(text: string): void {
    this.#pending += text;
    if (this.#pending.length >= CHUNK_CHARS) {
      this.#chunks.push(Buffer.from(this.#pending));
      this.#pending = "";
    }
  }

  /** Gives the event loop back once SLICE_MS of work has passed since it last did. */
  async breathe(): Promise<void> {
    if (performance.now() - this.#since < SLICE_MS) return;
    await turn();
    this.#since = performance.now();
  }

  /** The exposition as chunks of bytes (sent one by one: no one large conversion or copy). */
  chunks(): Buffer[] {
    if (this.#pending) this.#chunks.push(Buffer.from(this.#pending));
    this.#pending = "";
    return this.#chunks;
  }
}
