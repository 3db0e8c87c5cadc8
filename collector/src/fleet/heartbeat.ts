import { checkJsonTree, timeProblem } from "@clawguard/shared/events/bounds";
import {
  AGENT_PATTERN,
  describeValue,
  INSTANCE_PATTERN,
  isPlainObject,
  ROLE_PATTERN,
  type Validation,
} from "@clawguard/shared/events/envelope";
import {
  LATENCY_BUCKETS_S,
  LLM_ERROR_CLASSES,
  MAX_LLM_SERIES,
  MAX_MEMORY_FILES,
  type SidecarStats,
  STATUS_CLASSES,
} from "@clawguard/shared/stats";
import {
  HEALTH_STATES,
  type HealthState,
  type Heartbeat,
  PROBE_STATES,
  type ProbeState,
} from "../store/liveness/index.ts";

/** The limits of a heartbeat (POST /v1/heartbeats); its body may be at most HEARTBEAT_MAX_BYTES. */
export const HEARTBEAT_MAX_BYTES = 64 * 1024;
export const MAX_REASONS = 50;
export const MAX_REASON_CHARS = 1000;
export const MAX_PROBES = 100;
export const MAX_VERSIONS = 20;
export const MAX_CONFIG_KEYS = 500;
const KEY_HASH = /^[0-9a-f]{16,64}$/;
export const MIN_INTERVAL_MS = 1000;
export const MAX_INTERVAL_MS = 3_600_000;

const KEYS = new Set([
  "agent",
  "role",
  "host",
  "instance",
  "state",
  "reasons",
  "probes",
  "versions",
  "configFingerprint",
  "configKeys",
  "intervalMs",
  "time",
  "clock",
  "stats",
]);
/** Offsets beyond ten years are not a clock, they are garbage. */
const MAX_OFFSET_MS = 10 * 365 * 86_400_000;
const SHA256 = /^[0-9a-f]{64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function text(errors: string[], path: string, value: unknown, max: number, pattern?: RegExp): void {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > max ||
    (pattern && !pattern.test(value))
  )
    errors.push(
      `${path}: expected ${pattern ? `a string of [A-Za-z0-9_.-] (not starting with _ . -),` : "a string of"} 1-${max} chars, got ${describeValue(value)}`,
    );
}

function oneOf(errors: string[], path: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "string" || !allowed.includes(value))
    errors.push(`${path}: expected one of ${allowed.join("|")}, got ${describeValue(value)}`);
}

function checkReasons(errors: string[], value: unknown): void {
  if (!Array.isArray(value) || value.length > MAX_REASONS) {
    errors.push(`reasons: expected an array of at most ${MAX_REASONS} strings, got ${describeValue(value)}`);
    return;
  }
  value.forEach((r, i) => {
    text(errors, `reasons[${i}]`, r, MAX_REASON_CHARS);
  });
}

function checkProbes(errors: string[], value: unknown): void {
  if (!Array.isArray(value) || value.length > MAX_PROBES) {
    errors.push(
      `probes: expected an array of at most ${MAX_PROBES} {name, state}, got ${describeValue(value)}`,
    );
    return;
  }
  value.forEach((p, i) => {
    const path = `probes[${i}]`;
    if (!isPlainObject(p)) {
      errors.push(`${path}: expected {name, state}, got ${describeValue(p)}`);
      return;
    }
    for (const key of Object.keys(p))
      if (key !== "name" && key !== "state") errors.push(`${path}.${key}: unknown field`);
    text(errors, `${path}.name`, p.name, 128);
    oneOf(errors, `${path}.state`, p.state, PROBE_STATES);
  });
}

function checkVersions(errors: string[], value: unknown): void {
  if (!isPlainObject(value) || Object.keys(value).length > MAX_VERSIONS) {
    errors.push(
      `versions: expected an object of at most ${MAX_VERSIONS} name: version strings, got ${describeValue(value)}`,
    );
    return;
  }
  for (const [name, version] of Object.entries(value)) {
    if (name.length === 0 || name.length > 64)
      errors.push(`versions: expected names of 1-64 chars, got ${JSON.stringify(name.slice(0, 80))}`);
    text(errors, `versions.${name.slice(0, 64)}`, version, 128);
  }
}

function checkConfigKeys(errors: string[], value: unknown): void {
  if (value === undefined) return;
  if (!isPlainObject(value) || Object.keys(value).length > MAX_CONFIG_KEYS) {
    errors.push(
      `configKeys: expected an object of at most ${MAX_CONFIG_KEYS} key: hash entries, got ${describeValue(value)}`,
    );
    return;
  }
  for (const [key, hash] of Object.entries(value)) {
    if (key.length === 0 || key.length > 200)
      errors.push(`configKeys: expected keys of 1-200 chars, got ${JSON.stringify(key.slice(0, 80))}`);
    if (typeof hash !== "string" || !KEY_HASH.test(hash))
      errors.push(
        `configKeys.${key.slice(0, 200)}: expected 16-64 lower-case hex chars, got ${describeValue(hash)}`,
      );
  }
}

/** Checks a heartbeat body; every problem is named by its field. Unknown fields are refused. */
export function validateHeartbeat(value: unknown): Validation<Heartbeat> {
  if (!isPlainObject(value))
    return { ok: false, errors: [`expected a heartbeat object, got ${describeValue(value)}`] };
  // Depth and storable text first: reasons and probes go to PostgreSQL (jsonb refuses NUL and lone surrogates).
  const errors: string[] = checkJsonTree(value, "heartbeat", { maxDepth: 8, maxNodes: 5000 });
  if (errors.length > 0) return { ok: false, errors };
  for (const key of Object.keys(value)) if (!KEYS.has(key)) errors.push(`${key}: unknown field`);
  text(errors, "agent", value.agent, 63, AGENT_PATTERN);
  text(errors, "role", value.role, 64, ROLE_PATTERN);
  text(errors, "host", value.host, 255);
  if (value.instance !== undefined) text(errors, "instance", value.instance, 64, INSTANCE_PATTERN);
  oneOf(errors, "state", value.state, HEALTH_STATES);
  checkReasons(errors, value.reasons);
  checkProbes(errors, value.probes);
  checkVersions(errors, value.versions);
  checkConfigKeys(errors, value.configKeys);
  if (typeof value.configFingerprint !== "string" || !SHA256.test(value.configFingerprint))
    errors.push(
      `configFingerprint: expected a sha256 as 64 lower-case hex chars, got ${describeValue(value.configFingerprint)}`,
    );
  const interval = value.intervalMs;
  if (
    typeof interval !== "number" ||
    !Number.isInteger(interval) ||
    interval < MIN_INTERVAL_MS ||
    interval > MAX_INTERVAL_MS
  )
    errors.push(
      `intervalMs: expected an integer in ${MIN_INTERVAL_MS}..${MAX_INTERVAL_MS}, got ${describeValue(interval)}`,
    );
  if (
    typeof value.time !== "string" ||
    value.time.length > 40 ||
    !RFC3339.test(value.time) ||
    timeProblem(value.time) !== undefined
  )
    errors.push(`time: expected an RFC 3339 timestamp, got ${describeValue(value.time)}`);
  checkClock(errors, value.clock);
  checkStats(errors, value.stats);
  if (errors.length > 0) return { ok: false, errors };
  const v = value as Record<string, unknown>;
  // A copy of exactly the known fields, so nothing else is ever stored.
  return {
    ok: true,
    value: {
      agent: v.agent as string,
      role: v.role as string,
      host: v.host as string,
      ...(typeof v.instance === "string" ? { instance: v.instance } : {}),
      state: v.state as HealthState,
      reasons: [...(v.reasons as string[])],
      probes: (v.probes as { name: string; state: ProbeState }[]).map((p) => ({
        name: p.name,
        state: p.state,
      })),
      versions: { ...(v.versions as Record<string, string>) },
      configFingerprint: v.configFingerprint as string,
      ...(isPlainObject(v.configKeys) ? { configKeys: { ...(v.configKeys as Record<string, string>) } } : {}),
      intervalMs: v.intervalMs as number,
      time: v.time as string,
      ...(isPlainObject(v.clock) ? { clock: { ...(v.clock as { offsetMs: number; rttMs: number }) } } : {}),
      ...(isPlainObject(v.stats) ? { stats: structuredClone(v.stats as unknown as SidecarStats) } : {}),
    },
  };
}

function checkClock(errors: string[], value: unknown): void {
  if (value === undefined) return;
  const ok =
    isPlainObject(value) &&
    Object.keys(value).every((k) => k === "offsetMs" || k === "rttMs") &&
    Number.isInteger(value.offsetMs) &&
    Math.abs(value.offsetMs as number) <= MAX_OFFSET_MS &&
    Number.isInteger(value.rttMs) &&
    (value.rttMs as number) >= 0 &&
    (value.rttMs as number) <= 3_600_000;
  if (!ok)
    errors.push(
      `clock: expected {offsetMs: integer within ±${MAX_OFFSET_MS}, rttMs: integer in 0..3600000}, got ${describeValue(value)}`,
    );
}

const count = (value: unknown) => typeof value === "number" && Number.isFinite(value) && value >= 0;

function checkCounts(errors: string[], path: string, value: unknown, keys: readonly string[]): void {
  if (!isPlainObject(value)) {
    errors.push(`${path}: expected an object of counts, got ${describeValue(value)}`);
    return;
  }
  for (const [key, n] of Object.entries(value)) {
    if (!keys.includes(key)) errors.push(`${path}.${key.slice(0, 40)}: expected one of ${keys.join("|")}`);
    else if (!count(n)) errors.push(`${path}.${key}: expected a count >= 0, got ${describeValue(n)}`);
  }
}

function checkHistogram(errors: string[], path: string, value: unknown): void {
  const ok =
    isPlainObject(value) &&
    Array.isArray(value.buckets) &&
    value.buckets.length === LATENCY_BUCKETS_S.length &&
    value.buckets.every(count) &&
    count(value.sum) &&
    count(value.count) &&
    Object.keys(value).length === 3;
  if (!ok)
    errors.push(
      `${path}: expected {buckets: ${LATENCY_BUCKETS_S.length} counts (le ${LATENCY_BUCKETS_S.join(",")}), sum, count}, got ${describeValue(value)}`,
    );
}

const LLM_KEYS = [
  "provider",
  "model",
  "calls",
  "errors",
  "latency",
  "ttft",
  "inputTokens",
  "outputTokens",
  "cacheReadTokens",
];

function checkLlmSeries(errors: string[], path: string, s: unknown): void {
  if (!isPlainObject(s)) {
    errors.push(`${path}: expected an object, got ${describeValue(s)}`);
    return;
  }
  for (const key of Object.keys(s)) if (!LLM_KEYS.includes(key)) errors.push(`${path}.${key}: unknown field`);
  text(errors, `${path}.provider`, s.provider, 64);
  text(errors, `${path}.model`, s.model, 128);
  checkCounts(errors, `${path}.calls`, s.calls, STATUS_CLASSES);
  checkCounts(errors, `${path}.errors`, s.errors, LLM_ERROR_CLASSES);
  checkHistogram(errors, `${path}.latency`, s.latency);
  checkHistogram(errors, `${path}.ttft`, s.ttft);
  for (const key of ["inputTokens", "outputTokens", "cacheReadTokens"] as const)
    if (!count(s[key])) errors.push(`${path}.${key}: expected a count >= 0, got ${describeValue(s[key])}`);
}

const STATS_KEYS = [
  "spoolBacklog",
  "spoolBytes",
  "setAside",
  "shipperFailingSeconds",
  "memoryOversize",
  "exec",
  "memoryBytes",
  "llm",
];

/** The sidecar's counters for /metrics (optional; see @clawguard/shared/stats): bounded in size. */
function checkStats(errors: string[], value: unknown): void {
  if (value === undefined) return;
  if (!isPlainObject(value)) {
    errors.push(`stats: expected an object, got ${describeValue(value)}`);
    return;
  }
  for (const key of Object.keys(value))
    if (!STATS_KEYS.includes(key)) errors.push(`stats.${key}: unknown field`);
  for (const key of ["spoolBacklog", "spoolBytes", "setAside", "shipperFailingSeconds"])
    if (!count(value[key]))
      errors.push(`stats.${key}: expected a count >= 0, got ${describeValue(value[key])}`);
  checkCounts(errors, "stats.exec", value.exec, ["runs", "spills", "denials", "failures"]);
  // Optional: sidecars from before it was counted do not send it.
  if (value.memoryOversize !== undefined && !count(value.memoryOversize))
    errors.push(`stats.memoryOversize: expected a count >= 0, got ${describeValue(value.memoryOversize)}`);
  const memory = value.memoryBytes;
  if (!isPlainObject(memory) || Object.keys(memory).length > MAX_MEMORY_FILES)
    errors.push(
      `stats.memoryBytes: expected at most ${MAX_MEMORY_FILES} path: bytes, got ${describeValue(memory)}`,
    );
  else
    for (const [path, n] of Object.entries(memory))
      if (path.length === 0 || path.length > 256 || !count(n))
        errors.push(
          `stats.memoryBytes: expected paths of 1-256 chars and byte counts, got ${describeValue(path)}`,
        );
  if (!Array.isArray(value.llm) || value.llm.length > MAX_LLM_SERIES) {
    errors.push(`stats.llm: expected at most ${MAX_LLM_SERIES} series, got ${describeValue(value.llm)}`);
    return;
  }
  value.llm.forEach((s, i) => {
    checkLlmSeries(errors, `stats.llm[${i}]`, s);
  });
}
