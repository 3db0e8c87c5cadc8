/**
 * What a sidecar counts for the collector's /metrics, sent in each heartbeat (`stats`): cumulative
 * since the sidecar started (Prometheus sees a restart as a counter reset), bounded so that the
 * collector's series stay bounded whatever an agent sends.
 */

/** Latency buckets in seconds, shared by the sidecar (which counts) and the collector (which exports). */
export const LATENCY_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120] as const;

/**
 * Error classes of an LLM call, a closed set: overflow (400 context too long), auth (the provider's
 * 401/403), intermediary (a proxy's 401/403/407), rate_limited (429), server_error (5xx), network,
 * client_error (other 4xx), aborted (the client left, or the relay broke), other.
 */
export const LLM_ERROR_CLASSES = [
  "overflow",
  "auth",
  "intermediary",
  "rate_limited",
  "server_error",
  "network",
  "client_error",
  "aborted",
  "other",
] as const;
export type LlmErrorClass = (typeof LLM_ERROR_CLASSES)[number];

/** Status classes of an LLM call's answer ("none": no HTTP answer from the provider). */
export const STATUS_CLASSES = ["2xx", "3xx", "4xx", "5xx", "none"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** At most this many provider/model pairs per agent; further models are counted as model "other". */
export const MAX_LLM_SERIES = 16;
export const OTHER_MODEL = "other";

export interface Histogram {
  /** Cumulative counts per LATENCY_BUCKETS_S bound (le), same length. */
  buckets: number[];
  sum: number;
  count: number;
}

export interface LlmSeries {
  provider: string;
  model: string;
  calls: Partial<Record<StatusClass, number>>;
  errors: Partial<Record<LlmErrorClass, number>>;
  latency: Histogram;
  ttft: Histogram;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
}

export interface SidecarStats {
  /** Events written to the spool, not yet acknowledged by the collector. */
  spoolBacklog: number;
  spoolBytes: number;
  /** Events set aside: rejected by the collector (dead letters) and quarantined from a damaged spool. */
  setAside: number;
  /** Seconds since shipping started failing (0 while it works). */
  shipperFailingSeconds: number;
  exec: { runs: number; spills: number; denials: number; failures: number };
  /** Memory files over their limit now (the daily log limit, the bootstrap cap). */
  memoryOversize?: number;
  /** Memory files' sizes in bytes, by file (at most MAX_MEMORY_FILES, relative paths). */
  memoryBytes: Record<string, number>;
  llm: LlmSeries[];
}

export const MAX_MEMORY_FILES = 20;

export function emptyHistogram(): Histogram {
  return { buckets: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 };
}

export function observe(h: Histogram, seconds: number): void {
  LATENCY_BUCKETS_S.forEach((le, i) => {
    if (seconds <= le) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
  });
  h.sum += seconds;
  h.count++;
}

export function statusClassOf(status: number | null | undefined): StatusClass {
  if (typeof status !== "number" || status < 200 || status >= 600) return "none";
  return `${Math.floor(status / 100)}xx` as StatusClass;
}

/** The closed error class of the LLM guard's error type (its `error_type`). */
export function errorClassOf(errorType: string): LlmErrorClass {
  if (errorType === "context_length_exceeded" || errorType === "overflow") return "overflow";
  if (errorType === "client_aborted" || errorType === "relay_failed") return "aborted";
  if (/^4\d\d$/.test(errorType)) return "client_error";
  return (LLM_ERROR_CLASSES as readonly string[]).includes(errorType)
    ? (errorType as LlmErrorClass)
    : "other";
}
