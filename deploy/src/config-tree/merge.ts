import { ConfigTreeError } from "./errors.ts";
import { formatPath, isPlainObject, type Segment, setOwn } from "./paths.ts";

/**
 * Deep merge of one layer over another: objects merge key by key, everything else (arrays included)
 * replaces. Two directives, each an object with that single key:
 *   `{ $replace: VALUE }`  VALUE replaces what is below, without merging (an object wholesale)
 *   `{ $delete: true }`    the key is removed
 * `null` is a value like any other. The result shares nothing with the inputs.
 */

/** Which file last set each path of the merged config (for problems that name the file to edit). */
export class Origins {
  private readonly byPath = new Map<string, string>();

  set(path: string, file: string): void {
    for (const key of [...this.byPath.keys()]) {
      if (key === path || key.startsWith(`${path}.`) || key.startsWith(`${path}[`)) this.byPath.delete(key);
    }
    this.byPath.set(path, file);
  }

  /** The file that set `path` or, when it is not set, the nearest ancestor that is. */
  of(segments: readonly Segment[], fallback: string): string {
    for (let n = segments.length; n >= 0; n--) {
      const file = this.byPath.get(formatPath(segments.slice(0, n)));
      if (file !== undefined) return file;
    }
    return fallback;
  }
}

type Directive = { kind: "replace"; value: unknown } | { kind: "delete" };

function directive(v: unknown, file: string, path: Segment[]): Directive | undefined {
  if (!isPlainObject(v)) return undefined;
  const keys = Object.keys(v);
  const found = keys.filter((k) => k === "$replace" || k === "$delete");
  if (found.length === 0) return undefined;
  if (keys.length !== 1) {
    throw new ConfigTreeError(
      `${found[0]} must be the only key of its object, got keys ${keys.map((k) => JSON.stringify(k)).join(", ")}`,
      { file, path: formatPath(path) },
    );
  }
  if (found[0] === "$delete") {
    if (v.$delete !== true) {
      throw new ConfigTreeError(`$delete: expected true, got ${JSON.stringify(v.$delete)}`, {
        file,
        path: formatPath(path),
      });
    }
    return { kind: "delete" };
  }
  return { kind: "replace", value: v.$replace };
}

/** A copy of `v` with no directive left in it (a directive nested in replaced content is an error). */
function plain(v: unknown, file: string, path: Segment[]): unknown {
  if (directive(v, file, path)) {
    throw new ConfigTreeError("a $replace/$delete inside replaced or new content has nothing to act on", {
      file,
      path: formatPath(path),
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => plain(x, file, [...path, i]));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, plain(x, file, [...path, k]));
    return out;
  }
  return v;
}

function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, clone(x));
    return out;
  }
  return v;
}

/** `overlay` (read from `file`) over `base`; records in `origins` which paths `file` set. */
export function mergeLayer(
  base: Record<string, unknown>,
  overlay: Record<string, unknown>,
  file: string,
  origins: Origins,
  path: Segment[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) setOwn(out, k, clone(v));
  for (const [k, v] of Object.entries(overlay)) {
    const at = [...path, k];
    const d = directive(v, file, at);
    if (d?.kind === "delete") {
      delete out[k];
      origins.set(formatPath(at), file);
      continue;
    }
    const current = Object.hasOwn(out, k) ? out[k] : undefined;
    if (d === undefined && isPlainObject(v) && isPlainObject(current)) {
      setOwn(out, k, mergeLayer(current, v, file, origins, at));
      continue;
    }
    const value = d?.kind === "replace" ? d.value : v;
    setOwn(out, k, plain(value, file, at));
    origins.set(formatPath(at), file);
  }
  return out;
}
