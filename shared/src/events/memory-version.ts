/**
 * The attrs a `memory.changed` event must carry: one version of one memory file. The collector stores
 * every such event with its `memory_versions` row, so an event without a valid version is refused
 * there; the sidecar checks the same rules before it gives a draft a seq (envelope.ts, validate).
 */

/** The event type whose every occurrence is also a row of `memory_versions`. */
export const MEMORY_CHANGED = "memory.changed";
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const CHANGES = ["created", "modified", "deleted"] as const;
const MAX_PATH_CHARS = 1024;

export type MemoryChange = (typeof CHANGES)[number];

/** One version of one memory file, as told by a `memory.changed` event. */
export interface MemoryVersion {
  event_id: string;
  agent: string;
  path: string;
  time: string;
  /** null when the file was deleted. */
  sha256: string | null;
  size: number;
  change: MemoryChange;
}

/** A version as the collector's GET /v1/memory/history lists it. */
export interface HistoryEntry extends MemoryVersion {
  /** Whether the content of this version is stored (its blob was uploaded). */
  blob: boolean;
}

/** The fields of an event (or a draft) a version is read from. */
interface VersionSource {
  id: string;
  time: string;
  source: { agent: string };
  attrs: Record<string, unknown>;
}

/**
 * The version a `memory.changed` event records, or what is wrong with its attrs (each named by
 * `path`). Other attrs (lines_added, lines_removed, ...) are the event's and are not checked here.
 */
export function memoryVersionOf(
  event: VersionSource,
  path = "event",
): { ok: true; value: MemoryVersion } | { ok: false; errors: string[] } {
  const a = event.attrs;
  const errors: string[] = [];
  const at = (key: string) => `${path}.attrs.${key}`;
  const file = a.path;
  if (
    typeof file !== "string" ||
    file.length === 0 ||
    file.length > MAX_PATH_CHARS ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    /[\u0000-\u001f]/.test(file)
  )
    errors.push(`${at("path")}: expected a file path of 1-${MAX_PATH_CHARS} printable chars`);
  const change = a.change;
  if (!CHANGES.includes(change as MemoryChange))
    errors.push(`${at("change")}: expected one of ${CHANGES.join("|")}, got ${JSON.stringify(change)}`);
  const size = a.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    errors.push(`${at("size")}: expected an integer >= 0, got ${JSON.stringify(size)}`);
  const sha256 = a.sha256 ?? null;
  if (change === "deleted" && sha256 !== null)
    errors.push(`${at("sha256")}: expected null for a deleted file, got ${JSON.stringify(sha256)}`);
  else if (change !== "deleted" && (typeof sha256 !== "string" || !SHA256_PATTERN.test(sha256)))
    errors.push(`${at("sha256")}: expected 64 lower-case hex chars, got ${JSON.stringify(sha256)}`);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      event_id: event.id,
      agent: event.source.agent,
      path: file as string,
      time: event.time,
      sha256: sha256 as string | null,
      size: size as number,
      change: change as MemoryChange,
    },
  };
}
