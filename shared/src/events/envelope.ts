import { ULID_PATTERN, ulid } from "../ids.ts";
import { isoTime } from "../time.ts";
import { checkJsonTree, MAX_SEQ, storableProblem, timeProblem } from "./bounds.ts";
import { MEMORY_CHANGED, memoryVersionOf } from "./memory-version.ts";

/** The audit event envelope of DESIGN.md §4. */
export type Severity = "debug" | "info" | "warn" | "error" | "critical";
export const SEVERITIES: readonly Severity[] = ["debug", "info", "warn", "error", "critical"];

export interface EventSource {
  /** The agent this source speaks for, e.g. `main`, `sub3`. Names starting with `_` are reserved. */
  agent: string;
  role: string;
  host: string;
  /**
   * The sidecar process that sealed it (stable across its restarts on one state dir): two sidecars
   * configured with one agent name tell apart by it. Absent from older sidecars' events.
   */
  instance?: string;
}

/** A sidecar's instance id (see EventSource.instance). */
export const INSTANCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The sidecar's HMAC over the event's hash (see chain.ts, SealKey): key id and hex MAC. */
export interface Seal {
  kid: string;
  mac: string;
}

export interface AuditEvent {
  id: string;
  seq: number;
  time: string;
  source: EventSource;
  session?: string;
  type: string;
  severity: Severity;
  attrs: Record<string, unknown>;
  prev_hash: string;
  hash: string;
  /** Outside the hash: added by the sidecar that sealed the event into its spool, when it has a key. */
  seal?: Seal;
}

/** The fields the chain owner (the sidecar) fills in; a source only produces the rest. */
export type ChainedFields = "seq" | "prev_hash" | "hash" | "seal";
export type EventDraft = Omit<AuditEvent, ChainedFields>;

export const AGENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/**
 * A role (gateway, bot, ...): it becomes a Prometheus label and goes into alert texts (Mattermost
 * markdown), so only these characters; nothing that mentions (@channel), links, or reorders text.
 */
export const ROLE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const HASH_PATTERN = /^[0-9a-f]{64}$/;
export const MAX_ATTRS_BYTES = 64 * 1024;

const DRAFT_KEYS = new Set(["id", "time", "source", "session", "type", "severity", "attrs"]);
const EVENT_KEYS = new Set([...DRAFT_KEYS, "seq", "prev_hash", "hash", "seal"]);
const SEAL_KID = /^[A-Za-z0-9_.-]{1,32}$/;

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: string[] };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface StringRule {
  pattern?: RegExp;
  max: number;
  expected: string;
}

/**
 * Checks one string field, `field` under `path` (joined only for an error message: the sidecar
 * checks every event it records, and the paths were a string per field per event).
 */
function checkString(errors: string[], path: string, field: string, value: unknown, rule: StringRule): void {
  if (typeof value !== "string") {
    errors.push(`${path}.${field}: expected ${rule.expected}, got ${describeValue(value)}`);
  } else if (value.length === 0 || value.length > rule.max || (rule.pattern && !rule.pattern.test(value))) {
    errors.push(`${path}.${field}: expected ${rule.expected}, got ${JSON.stringify(value.slice(0, 80))}`);
  } else {
    const problem = storableProblem(value);
    if (problem) errors.push(`${path}.${field}: ${problem}`);
  }
}

const RULES = {
  id: { pattern: ULID_PATTERN, max: 26, expected: "a ULID" },
  agent: {
    pattern: /^_?[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/,
    max: 64,
    expected: "an agent name ([A-Za-z0-9_.-], up to 63 chars)",
  },
  role: {
    pattern: ROLE_PATTERN,
    max: 64,
    expected: "a role ([A-Za-z0-9_.-], 1-64 chars, starting with a letter or digit)",
  },
  host: { max: 255, expected: "a host of 1-255 chars" },
  instance: {
    pattern: INSTANCE_PATTERN,
    max: 64,
    expected: "an instance id ([A-Za-z0-9_.-], up to 64 chars)",
  },
  session: { max: 256, expected: "a session id of 1-256 chars" },
  type: { pattern: TYPE_PATTERN, max: 128, expected: "a dotted lower-case type such as exec.completed" },
  hash: { pattern: HASH_PATTERN, max: 64, expected: "64 lower-case hex chars (sha256)" },
  kid: { pattern: SEAL_KID, max: 32, expected: "a key id of 1-32 chars [A-Za-z0-9_.-]" },
  mac: { pattern: HASH_PATTERN, max: 64, expected: "64 lower-case hex chars (HMAC-SHA256)" },
} satisfies Record<string, StringRule>;

/** A value as an error message names it: "nothing", "an array", a quoted string cut at 80 chars. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.slice(0, 80));
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function validate(value: unknown, path: string, chained: boolean): string[] {
  const errors: string[] = [];
  if (!isPlainObject(value)) return [`${path}: expected an event object, got ${describeValue(value)}`];
  const allowed = chained ? EVENT_KEYS : DRAFT_KEYS;
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) errors.push(`${path}.${key}: unknown field`);
  }
  checkString(errors, path, "id", value.id, RULES.id);
  if (typeof value.time !== "string" || value.time.length > 40) {
    errors.push(`${path}.time: expected an RFC 3339 timestamp, got ${describeValue(value.time)}`);
  } else {
    const problem = timeProblem(value.time);
    if (problem) errors.push(`${path}.time: ${problem}, got ${JSON.stringify(value.time)}`);
  }
  checkSource(errors, path, value.source);
  if (value.session !== undefined) checkString(errors, path, "session", value.session, RULES.session);
  checkString(errors, path, "type", value.type, RULES.type);
  if (!SEVERITIES.includes(value.severity as Severity)) {
    errors.push(
      `${path}.severity: expected one of ${SEVERITIES.join("|")}, got ${describeValue(value.severity)}`,
    );
  }
  checkAttrs(errors, path, value);
  if (chained) {
    const seq = value.seq;
    if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 1 || seq > MAX_SEQ) {
      errors.push(`${path}.seq: expected an integer in 1..2^48, got ${describeValue(seq)}`);
    }
    checkString(errors, path, "prev_hash", value.prev_hash, RULES.hash);
    checkString(errors, path, "hash", value.hash, RULES.hash);
    if (value.seal !== undefined) checkSeal(errors, `${path}.seal`, value.seal);
  }
  return errors;
}

function checkSource(errors: string[], path: string, source: unknown): void {
  if (!isPlainObject(source)) {
    errors.push(`${path}.source: expected {agent, role, host}, got ${describeValue(source)}`);
    return;
  }
  for (const key of Object.keys(source)) {
    if (key !== "agent" && key !== "role" && key !== "host" && key !== "instance")
      errors.push(`${path}.source.${key}: unknown field`);
  }
  checkString(errors, path, "source.agent", source.agent, RULES.agent);
  checkString(errors, path, "source.role", source.role, RULES.role);
  checkString(errors, path, "source.host", source.host, RULES.host);
  if (source.instance !== undefined)
    checkString(errors, path, "source.instance", source.instance, RULES.instance);
}

/** The attrs: an object whose tree is within the bounds and, serialised, at most MAX_ATTRS_BYTES. */
function checkAttrs(errors: string[], path: string, value: Record<string, unknown>): void {
  const attrs = value.attrs;
  if (!isPlainObject(attrs)) {
    errors.push(`${path}.attrs: expected an object, got ${describeValue(attrs)}`);
    return;
  }
  // Depth first: only a tree of bounded depth is safe to serialise (and later to hash).
  const problems = checkJsonTree(attrs, `${path}.attrs`);
  errors.push(...problems);
  const size = problems.length === 0 ? Buffer.byteLength(JSON.stringify(attrs)) : 0;
  if (size > MAX_ATTRS_BYTES)
    errors.push(`${path}.attrs: ${size} bytes, expected at most ${MAX_ATTRS_BYTES}`);
  // A type whose attrs the collector stores elsewhere too: the same rules for a draft and an event.
  if (errors.length === 0 && value.type === MEMORY_CHANGED) {
    const version = memoryVersionOf(value as unknown as EventDraft, path);
    if (!version.ok) errors.push(...version.errors);
  }
}

function checkSeal(errors: string[], path: string, seal: unknown): void {
  if (!isPlainObject(seal)) {
    errors.push(`${path}: expected {kid, mac}, got ${describeValue(seal)}`);
    return;
  }
  for (const key of Object.keys(seal)) {
    if (key !== "kid" && key !== "mac") errors.push(`${path}.${key}: unknown field`);
  }
  checkString(errors, path, "kid", seal.kid, RULES.kid);
  checkString(errors, path, "mac", seal.mac, RULES.mac);
}

/** Checks a chained event as it arrives at the collector; every problem is named with its path. */
export function validateEvent(value: unknown, path = "event"): Validation<AuditEvent> {
  const errors = validate(value, path, true);
  return errors.length === 0 ? { ok: true, value: value as AuditEvent } : { ok: false, errors };
}

/** Checks a draft (no seq or hashes yet), e.g. one left in the inbox by `clawguard exec`. */
export function validateDraft(value: unknown, path = "event"): Validation<EventDraft> {
  const errors = validate(value, path, false);
  return errors.length === 0 ? { ok: true, value: value as EventDraft } : { ok: false, errors };
}

export function draftEvent(input: {
  source: EventSource;
  type: string;
  severity?: Severity;
  attrs?: Record<string, unknown>;
  session?: string | undefined;
  time?: Date;
}): EventDraft {
  const time = input.time ?? new Date();
  const draft: EventDraft = {
    id: ulid(time.getTime()),
    time: isoTime(time),
    source: input.source,
    type: input.type,
    severity: input.severity ?? "info",
    attrs: input.attrs ?? {},
  };
  if (input.session !== undefined) draft.session = input.session;
  return draft;
}
