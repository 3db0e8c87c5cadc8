/**
 * The bounds every value crossing a parser is held to before anything recursive (hashing, the
 * canonical form) or PostgreSQL sees it: nesting depth, node count, and text PostgreSQL can store
 * (no NUL, no lone UTF-16 surrogate: `text` refuses the one, `jsonb` both).
 */

/** Deepest attrs nesting accepted (an object or array inside attrs is depth 1). */
export const MAX_ATTRS_DEPTH = 32;
/** Most values (objects, arrays, strings, numbers...) in one attrs tree. */
export const MAX_ATTRS_NODES = 20_000;
/** Largest seq accepted: 2^48 events is ~9 000 years at a million events a second. */
export const MAX_SEQ = 2 ** 48;
/** Event times outside these years are refused (PostgreSQL has no year 0; nothing here predates 1970). */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 9999;

/** What is wrong with a string PostgreSQL must store, or undefined when nothing is. */
export function storableProblem(value: string): string | undefined {
  if (value.includes("\u0000")) return "contains a NUL character (\\u0000)";
  if (!value.isWellFormed()) return "contains a lone UTF-16 surrogate (not valid Unicode)";
  return undefined;
}

/** The string with each NUL and lone surrogate replaced by U+FFFD: what the sidecar stores of its own text. */
export function toStorable(value: string): string {
  return value.replaceAll("\u0000", "\ufffd").toWellFormed();
}

/** A value still to check, with how to name its path should it have a problem (built only then). */
interface Pending {
  value: unknown;
  depth: number;
  parent: Pending | undefined;
  key: string | number;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `root.key[3]["odd key"]`: the path of a value, from the keys that lead to it. */
function pathOf(pending: Pending, root: string): string {
  const keys: (string | number)[] = [];
  for (let at: Pending | undefined = pending; at?.parent; at = at.parent) keys.push(at.key);
  let path = root;
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i] as string | number;
    if (typeof key === "number") path = `${path}[${key}]`;
    else path = IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
  }
  return path;
}

/**
 * Checks a JSON value iteratively (no recursion: a hostile depth cannot overflow the stack):
 * depth, node count, and every key and string storable. Returns the problems, each with its path,
 * at most `maxProblems`. A path is spelled out only for a problem: the sidecar checks every event
 * it records, and building one string per value was most of what it allocated per LLM call.
 */
export function checkJsonTree(
  root: unknown,
  path: string,
  limits: { maxDepth?: number; maxNodes?: number; maxProblems?: number } = {},
): string[] {
  const maxDepth = limits.maxDepth ?? MAX_ATTRS_DEPTH;
  const maxNodes = limits.maxNodes ?? MAX_ATTRS_NODES;
  const maxProblems = limits.maxProblems ?? 5;
  const problems: string[] = [];
  const stack: Pending[] = [{ value: root, depth: 0, parent: undefined, key: "" }];
  let nodes = 0;
  while (stack.length > 0 && problems.length < maxProblems) {
    const pending = stack.pop() as Pending;
    const { value, depth } = pending;
    if (++nodes > maxNodes) {
      problems.push(`${path}: more than ${maxNodes} values`);
      break;
    }
    if (typeof value === "string") {
      const problem = storableProblem(value);
      if (problem) problems.push(`${pathOf(pending, path)}: ${problem}`);
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (depth >= maxDepth) {
      problems.push(`${pathOf(pending, path)}: nested deeper than ${maxDepth} levels`);
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], depth: depth + 1, parent: pending, key: i });
      continue;
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const problem = storableProblem(key);
      if (problem) problems.push(`${pathOf(pending, path)}: a key ${problem}`);
      stack.push({ value: record[key], depth: depth + 1, parent: pending, key });
    }
  }
  return problems;
}

const ISO_PARTS =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * What is wrong with an RFC 3339 timestamp, or undefined: each field in its range (no 30 February,
 * no hour 24), the offset within +-14:00 (the widest in use), the year in MIN_YEAR..MAX_YEAR.
 */
export function timeProblem(value: string): string | undefined {
  const m = ISO_PARTS.exec(value);
  if (!m) return "expected an RFC 3339 timestamp such as 2026-02-03T10:00:00.000Z";
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < MIN_YEAR || year > MAX_YEAR) return `year ${m[1]} is out of range ${MIN_YEAR}..${MAX_YEAR}`;
  const probe = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (
    probe.getUTCMonth() !== month - 1 ||
    probe.getUTCDate() !== day ||
    probe.getUTCHours() !== hour ||
    probe.getUTCMinutes() !== minute ||
    probe.getUTCSeconds() !== second
  ) {
    return "not a real date and time";
  }
  if (m[8] !== undefined) {
    const offsetHours = Number(m[9]);
    const offsetMinutes = Number(m[10]);
    if (offsetMinutes > 59 || offsetHours * 60 + offsetMinutes > 14 * 60)
      return `offset ${m[8]}${m[9]}:${m[10]} is outside -14:00..+14:00`;
  }
  return undefined;
}

/**
 * The value with every string (and key) made storable (toStorable); the same object when nothing
 * needed it, so the common case allocates nothing. For the sidecar's own events, whose text (an
 * argv, a path) comes from elsewhere: stored with U+FFFD in place, rather than refused downstream.
 */
export function storableValue<T>(value: T): T {
  if (typeof value === "string") return (storableProblem(value) ? toStorable(value) : value) as T;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((inner, i) => {
      const fixed = storableValue(inner);
      if (fixed === inner) return;
      copy ??= [...value];
      copy[i] = fixed;
    });
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const inner = record[key];
    const fixedKey = storableProblem(key) ? toStorable(key) : key;
    const fixed = storableValue(inner);
    if (fixed !== inner || fixedKey !== key) {
      const target: Record<string, unknown> = copy ?? { ...(value as Record<string, unknown>) };
      copy = target;
      if (fixedKey !== key) delete target[key];
      target[fixedKey] = fixed;
    }
  }
  return (copy ?? value) as T;
}

/**
 * A time asked for in a query (--since, ?until=): a real RFC 3339 time, or a bare date meaning its
 * midnight UTC. The ISO time, or why not (the collector and the CLI say the same).
 */
export function queryTime(value: string): { iso: string } | { problem: string } {
  const full = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const problem = timeProblem(full);
  if (problem) return { problem: `${problem} (a bare date such as 2026-02-03 also does)` };
  return { iso: new Date(Date.parse(full)).toISOString() };
}
