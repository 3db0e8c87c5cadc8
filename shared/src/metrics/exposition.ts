import { setImmediate as turn } from "node:timers/promises";

/**
 * The Prometheus text format (0.0.4), written a piece at a time: the writer gives the event loop
 * back every SLICE_MS of work, so a scrape of thousands of agents never holds up ingest, heartbeats
 * or /readyz for long (prom-client renders each metric in one synchronous pass: 1.6 to 9 s for a
 * few hundred heavy agents). The collector writes the fleet with it, each sidecar its own agent.
 */

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Record<string, string>;
export type MetricType = "gauge" | "counter" | "histogram";

export interface Sample {
  labels: Labels;
  value: number;
  /** `_bucket`, `_sum`, `_count` of a histogram. */
  suffix?: string;
}

/** What every render reads once besides its agents: the time. */
export interface RenderTime {
  now: number;
}

/**
 * One metric family over agents of type A and a render's snapshot S: its samples per agent
 * (written agent by agent, the event loop given back in between) and/or for the whole render
 * (`listed`: the agents written).
 */
export interface Family<A, S extends RenderTime = RenderTime> {
  name: string;
  help: string;
  type: MetricType;
  agent?: (a: A, s: S) => Sample[];
  fleet?: (s: S, listed: ReadonlySet<string>) => Sample[];
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

  family(name: string, help: string, type: MetricType): void {
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

/** The families over the agents, in order, each agent's samples after the last's (the loop given back as it goes). */
export async function writeFamilies<A extends { agent: string }, S extends RenderTime>(
  w: ExpositionWriter,
  families: readonly Family<A, S>[],
  agents: readonly A[],
  snapshot: S,
): Promise<void> {
  const listed = new Set(agents.map((a) => a.agent));
  for (const f of families) {
    w.family(f.name, f.help, f.type);
    if (f.agent)
      for (const a of agents) {
        w.samples(f.name, f.agent(a, snapshot));
        await w.breathe();
      }
    if (f.fleet) w.samples(f.name, f.fleet(snapshot, listed));
  }
}
