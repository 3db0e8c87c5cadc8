import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";

/**
 * Where a bind mount's source is on this host, as `docker compose` would resolve it from the
 * compose file's directory: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR` and `$$` from the
 * environment, then the `.env` file beside the compose file (the environment wins, as in Compose);
 * `~` is $HOME; a relative path is relative to the compose file's directory.
 */
export type HostPath = { path: string } | { reason: string };

/** `.env` as Compose reads it, in the plain `KEY=value` form (quotes taken off, `#` comments). */
export function readDotEnv(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, "");
    const eq = line.indexOf("=");
    if (line === "" || line.startsWith("#") || eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length > 1) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, "");
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

class Unresolved extends Error {}

/** Compose interpolation of `text`; throws Unresolved naming what is missing. */
function interpolate(text: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next !== "{") {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))?.[0];
      if (!name) {
        out += c;
        i++;
        continue;
      }
      const value = lookup(name);
      if (value === undefined) throw new Unresolved(`${name} is not set`);
      out += value;
      i += 1 + name.length;
      continue;
    }
    // ${...}: find the matching brace (defaults may nest).
    let depth = 0;
    let j = i + 1;
    for (; j < text.length; j++) {
      if (text[j] === "{") depth++;
      else if (text[j] === "}" && --depth === 0) break;
    }
    if (j >= text.length) throw new Unresolved(`unclosed \${ in ${text}`);
    const inner = text.slice(i + 2, j);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(inner);
    if (!m) throw new Unresolved(`\${${inner}} is not an interpolation inject understands`);
    const [, name = "", op, arg = ""] = m;
    const value = lookup(name);
    const unset = op?.startsWith(":") ? !value : value === undefined;
    if (op === undefined) {
      if (value === undefined) throw new Unresolved(`${name} is not set`);
      out += value;
    } else if (op.endsWith("-")) out += unset ? interpolate(arg, lookup) : value;
    else if (op.endsWith("?")) {
      if (unset) throw new Unresolved(`${name} is not set`);
      out += value;
    } else out += unset ? "" : interpolate(arg, lookup);
    i = j + 1;
  }
  return out;
}

/**
 * `text` interpolated as Compose does with `vars` (the environment over `.env`), or undefined when
 * a variable it needs is not set.
 */
export function interpolateVars(
  text: string,
  vars: Readonly<Record<string, string | undefined>>,
): string | undefined {
  try {
    return interpolate(text, (name) => vars[name]);
  } catch (err) {
    if (err instanceof Unresolved) return undefined;
    throw err;
  }
}

/**
 * The host directory of a bind mount's `source`. `bind` says whether the mount is a bind mount
 * (long syntax `type: bind`); short syntax is one when the resolved source starts with `.`, `/` or `~`.
 */
export function hostPath(
  source: string,
  composeDir: string,
  env: NodeJS.ProcessEnv,
  bind: boolean | undefined,
): HostPath {
  let dotenv: Record<string, string> | undefined;
  const lookup = (name: string) => {
    if (env[name] !== undefined) return env[name];
    dotenv ??= readDotEnv(join(composeDir, ".env"));
    return dotenv[name];
  };
  let path: string;
  try {
    path = interpolate(source, lookup);
  } catch (err) {
    if (err instanceof Unresolved)
      return { reason: `its source ${source} cannot be resolved here: ${err.message}` };
    throw err;
  }
  if (path === "") return { reason: `its source ${source} resolves to nothing here` };
  if (bind === false || (bind === undefined && !/^[./~]/.test(path))) {
    return { reason: `it is the named volume ${path}, which inject cannot reach` };
  }
  if (path === "~" || path.startsWith("~/")) {
    const home = env.HOME;
    if (!home) return { reason: `its source ${source} starts with ~ and HOME is not set` };
    path = join(home, path.slice(1));
  }
  return { path: isAbsolute(path) ? path : resolve(composeDir, path) };
}
