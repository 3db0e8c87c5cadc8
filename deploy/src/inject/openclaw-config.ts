import JSON5 from "json5";
import {
  appendChild,
  applyEdits,
  type Edit,
  inlineObject,
  type J5Node,
  type J5Object,
  keyText,
  member,
  parseSource,
  quoteString,
  styleOf,
} from "./json5-source.ts";
import { BIN_DIR, SIDECAR_PORT } from "./plan.ts";

/**
 * What `clawguard inject` changes in an agent's OpenClaw config (`openclaw.json`, JSON5): the
 * agent-side clawguard on the exec PATH (`tools.exec.pathPrepend`) and every provider's `baseUrl`
 * pointed at the sidecar, each the smallest text edit that does it (every other byte stays).
 * The providers' real URLs go to the sidecar instead (`upstreams`). The edited text is a function
 * of the input text alone, so `--remove` can tell whether the file is still what inject wrote.
 */

/** The API families the context guard understands (the sidecar's llm-proxy `API_FAMILIES`). */
export const GUARDED_APIS = ["openai-completions", "openai-responses", "anthropic-messages"] as const;
export type GuardedApi = (typeof GUARDED_APIS)[number];

/** OpenClaw's bundled providers' defaults, for a provider configured without a `baseUrl`. */
export const BUILT_IN: Readonly<Record<string, { baseUrl: string; api: GuardedApi }>> = {
  openai: { baseUrl: "https://api.openai.com/v1", api: "openai-responses" },
  anthropic: { baseUrl: "https://api.anthropic.com", api: "anthropic-messages" },
};

/** OpenClaw's `api` for a provider that names none (custom providers: openai-completions). */
const defaultApi = (id: string): GuardedApi => BUILT_IN[id]?.api ?? "openai-completions";

export const sidecarUrl = (id: string): string => `http://127.0.0.1:${SIDECAR_PORT}/llm/${id}`;

/** A provider's real URL, for the sidecar's `llm.providers.<id>`. */
export interface Upstream {
  id: string;
  upstream: string;
  /** Set when openclaw.json names no `api` (the sidecar needs one). */
  api?: GuardedApi | undefined;
}

export interface ProviderChange {
  id: string;
  /** `baseUrl` before: a URL, or undefined when there was none (`builtIn` then). */
  from: string | undefined;
  /** Whether it already pointed at the sidecar (nothing changed). */
  already: boolean;
  upstream: string;
}

export interface OpenClawEdit {
  /** The edited text; the input itself when there is nothing to change. */
  text: string;
  changed: boolean;
  /** `tools.exec.pathPrepend`: added, already there, or why it was not added. */
  pathPrepend: "added" | "present" | { reason: string };
  providers: ProviderChange[];
  /** Providers left as they are, each with why (the agent calls them directly). */
  left: { id: string; reason: string }[];
  upstreams: Upstream[];
}

/** The file cannot be edited safely at all (it is left as it is, and the user does it by hand). */
export interface OpenClawRefusal {
  refused: string;
}

type Js = Record<string, unknown>;
const isObject = (v: unknown): v is Js => v !== null && typeof v === "object" && !Array.isArray(v);

/** Whether a URL is a clawguard sidecar's LLM proxy on loopback (what inject points baseUrl at). */
function isSidecarUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (
      ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname) &&
      u.port === String(SIDECAR_PORT) &&
      /^\/llm\/[^/]+\/?$/.test(u.pathname)
    );
  } catch {
    return false;
  }
}

/** Why `url` cannot be a provider's upstream, or undefined when it can. */
function unusable(url: string): string | undefined {
  if (url.includes("${")) {
    return `its baseUrl ${url} is filled in by OpenClaw from its environment, so inject cannot know the real URL`;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `its baseUrl ${JSON.stringify(url)} is not a URL`;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `its baseUrl is not http(s): ${u.protocol}`;
  if (u.username || u.password) {
    return "its baseUrl carries credentials (user:password@), which inject does not copy into the compose file";
  }
  if (u.search || u.hash) {
    return `its baseUrl has a query or fragment (${u.origin}${u.pathname}?...), which the sidecar does not forward`;
  }
  return undefined;
}

/** A URL for messages: no credentials, no query. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password && !u.search && !u.hash) return url;
    return `${u.protocol}//${u.username || u.password ? "***@" : ""}${u.host}${u.pathname}${u.search || u.hash ? "?..." : ""}`;
  } catch {
    return url.includes("${") ? url : "(not a URL)";
  }
}

/** The provider's real URL as the original (pre-inject) config gives it. */
function upstreamFrom(original: Js | undefined, id: string): string | undefined {
  const models = original?.models;
  const providers = isObject(models) ? models.providers : undefined;
  const p = isObject(providers) ? providers[id] : undefined;
  if (!isObject(p)) return undefined;
  if (p.baseUrl === undefined) return BUILT_IN[id]?.baseUrl;
  if (typeof p.baseUrl !== "string" || isSidecarUrl(p.baseUrl) || unusable(p.baseUrl)) return undefined;
  return p.baseUrl;
}

const INCLUDE = "$include";

/**
 * The edit of one openclaw.json. `original` is the text before any inject (its backup), where
 * the real URLs of providers that already point at the sidecar are found. Throws on text that is
 * not JSON5 (the caller names the file).
 */
export function editOpenClaw(text: string, original?: string): OpenClawEdit | OpenClawRefusal {
  const data: unknown = JSON5.parse(text);
  if (!isObject(data)) return { refused: "expected an object at the top level" };
  const root = parseSource(text) as J5Object;
  const style = styleOf(text, root);
  let before: Js | undefined;
  try {
    const parsed: unknown = original === undefined ? undefined : JSON5.parse(original);
    before = isObject(parsed) ? parsed : undefined;
  } catch {
    before = undefined;
  }

  // Objects inject reads or adds to: a $include there means the values may live in another file.
  const models = member(root, "models")?.value;
  const providers = member(models, "providers")?.value;
  const tools = member(root, "tools")?.value;
  const exec = member(tools, "exec")?.value;
  const path: [string, J5Node | undefined][] = [
    ["(top level)", root],
    ["models", models],
    ["models.providers", providers],
    ["tools", tools],
    ["tools.exec", exec],
  ];
  if (providers?.kind === "object") {
    for (const m of providers.members) path.push([`models.providers.${m.key}`, m.value]);
  }
  for (const [where, node] of path) {
    if (member(node, INCLUDE)) {
      return {
        refused: `${where} uses ${INCLUDE}, so what inject would change may live in another file`,
      };
    }
  }
  for (const [where, node] of [
    ["models", models],
    ["models.providers", providers],
  ] as const) {
    if (node && node.kind !== "object") return { refused: `${where}: expected an object` };
  }

  const edits: Edit[] = [];
  const result: OpenClawEdit = {
    text,
    changed: false,
    pathPrepend: "present",
    providers: [],
    left: [],
    upstreams: [],
  };

  // tools.exec.pathPrepend
  const pathLiteral = quoteString(BIN_DIR);
  const prependList = `[${pathLiteral}]`;
  if (!tools) {
    edits.push(
      ...appendChild(
        text,
        root,
        `${keyText("tools", style)}${style.colon}${inlineObject([["exec", inlineObject([["pathPrepend", prependList]], style)]], style)}`,
        style,
      ),
    );
    result.pathPrepend = "added";
  } else if (tools.kind !== "object") {
    result.pathPrepend = { reason: "tools is not an object" };
  } else if (!exec) {
    edits.push(
      ...appendChild(
        text,
        tools,
        `${keyText("exec", style)}${style.colon}${inlineObject([["pathPrepend", prependList]], style)}`,
        style,
      ),
    );
    result.pathPrepend = "added";
  } else if (exec.kind !== "object") {
    result.pathPrepend = { reason: "tools.exec is not an object" };
  } else {
    const list = member(exec, "pathPrepend")?.value;
    if (!list) {
      edits.push(
        ...appendChild(text, exec, `${keyText("pathPrepend", style)}${style.colon}${prependList}`, style),
      );
      result.pathPrepend = "added";
    } else if (list.kind !== "array") {
      result.pathPrepend = { reason: "tools.exec.pathPrepend is not a list" };
    } else if (
      !list.items.some(
        (i) => i.kind === "scalar" && typeof i.value === "string" && i.value.replace(/\/+$/, "") === BIN_DIR,
      )
    ) {
      edits.push(...appendChild(text, list, pathLiteral, style));
      result.pathPrepend = "added";
    }
  }

  // models.providers.<id>.baseUrl
  for (const m of providers?.kind === "object" ? providers.members : []) {
    const id = m.key;
    const left = (reason: string) => result.left.push({ id, reason });
    const p = m.value;
    if (p.kind !== "object") {
      left("not an object");
      continue;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id)) {
      left("its id cannot be a sidecar path (/llm/<id>: 1-63 chars of [A-Za-z0-9_.-])");
      continue;
    }
    const apiNode = member(p, "api")?.value;
    const api = apiNode?.kind === "scalar" ? apiNode.value : undefined;
    if (apiNode && !(GUARDED_APIS as readonly unknown[]).includes(api)) {
      left(`api ${JSON.stringify(api)} is not one the context guard speaks (${GUARDED_APIS.join(", ")})`);
      continue;
    }
    const upstreamApi = apiNode ? undefined : defaultApi(id);
    const target = sidecarUrl(id);
    const baseNode = member(p, "baseUrl")?.value;
    if (!baseNode) {
      const builtIn = BUILT_IN[id];
      if (!builtIn) {
        left(
          `it has no baseUrl (OpenClaw's built-in default for "${id}"), which inject does not know: set baseUrl to the provider's real URL and run inject again`,
        );
        continue;
      }
      edits.push(
        ...appendChild(text, p, `${keyText("baseUrl", style)}${style.colon}${quoteString(target)}`, style),
      );
      result.providers.push({ id, from: undefined, already: false, upstream: builtIn.baseUrl });
      result.upstreams.push({ id, upstream: builtIn.baseUrl, api: upstreamApi });
      continue;
    }
    if (baseNode.kind !== "scalar" || typeof baseNode.value !== "string") {
      left("its baseUrl is not a string");
      continue;
    }
    const from = baseNode.value;
    if (isSidecarUrl(from)) {
      const upstream = upstreamFrom(before, id);
      if (!upstream) {
        left(
          `it already points at the sidecar (${from}), and its real URL is not known (${original === undefined ? "no backup from an earlier inject" : "not in the backup"}): give the sidecar llm.providers.${id}.upstream`,
        );
        continue;
      }
      result.providers.push({ id, from, already: true, upstream });
      result.upstreams.push({ id, upstream, api: upstreamApi });
      continue;
    }
    const why = unusable(from);
    if (why) {
      left(why);
      continue;
    }
    edits.push({ start: baseNode.start, end: baseNode.end, text: quoteString(target, baseNode.quote) });
    result.providers.push({ id, from, already: false, upstream: from });
    result.upstreams.push({ id, upstream: from, api: upstreamApi });
  }

  result.text = applyEdits(text, edits);
  result.changed = result.text !== text;
  return result;
}

export const isRefusal = (e: OpenClawEdit | OpenClawRefusal): e is OpenClawRefusal => "refused" in e;

/** The exact changes, for a message (no values but URLs, and those without credentials). */
export function describeEdit(e: OpenClawEdit): string[] {
  const lines: string[] = [];
  if (e.pathPrepend === "added") lines.push(`tools.exec.pathPrepend: + "${BIN_DIR}"`);
  else if (e.pathPrepend !== "present")
    lines.push(`tools.exec.pathPrepend: not changed (${e.pathPrepend.reason}); add "${BIN_DIR}" by hand`);
  for (const p of e.providers) {
    if (p.already) continue;
    lines.push(
      `models.providers.${p.id}.baseUrl: ${p.from === undefined ? `(none: built-in ${p.upstream})` : shownUrl(p.from)} -> ${sidecarUrl(p.id)}`,
    );
  }
  for (const l of e.left)
    lines.push(`models.providers.${l.id}: left as it is (direct, unguarded): ${l.reason}`);
  return lines;
}
