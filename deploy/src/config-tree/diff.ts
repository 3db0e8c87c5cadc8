import { formatPath, isPlainObject, type Segment } from "./paths.ts";
import { maskSecrets } from "./secrets.ts";

export interface Change {
  path: string;
  /** The last key on the path (an array element's is its array's): decides what counts as a secret. */
  key: string;
  /** undefined: absent on that side. */
  rendered: unknown;
  deployed: unknown;
}

/**
 * Leaf-level differences between the rendered and the deployed config. Objects are compared key by
 * key; arrays element by element (an added or removed element is one change at its index).
 * Paths in `ignore` (and below them) are skipped. Values are as found: mask them before printing.
 */
export function diffConfigs(rendered: unknown, deployed: unknown, ignore: readonly string[] = []): Change[] {
  const changes: Change[] = [];
  const walk = (a: unknown, b: unknown, path: Segment[]): void => {
    const p = formatPath(path);
    if (ignore.some((i) => p === i || p.startsWith(`${i}.`) || p.startsWith(`${i}[`))) return;
    if (isPlainObject(a) && isPlainObject(b)) {
      const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !Object.hasOwn(a, k))];
      for (const k of keys) {
        walk(Object.hasOwn(a, k) ? a[k] : undefined, Object.hasOwn(b, k) ? b[k] : undefined, [...path, k]);
      }
    } else if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...path, i]);
    } else if (!sameJson(a, b)) {
      const key = [...path].reverse().find((s) => typeof s === "string") ?? "";
      changes.push({ path: p, key, rendered: a, deployed: b });
    }
  };
  walk(rendered, deployed, []);
  return changes;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b) || a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** One line per change, secrets masked: `path: deployed <value>, rendered <value>`. */
export function formatChanges(changes: readonly Change[]): string {
  return changes
    .map((c) => {
      const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(maskSecrets(v, c.key)));
      return `${c.path || "(top)"}: deployed ${show(c.deployed)}, rendered ${show(c.rendered)}\n`;
    })
    .join("");
}
