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

/** What each step of the edit reads: the text, its style, and the config before any inject. */
interface EditContext {
  text: string;
  style: ReturnType<typeof styleOf>;
  /** The original (pre-inject) config, from the backup, where sidecar-pointing providers' URLs are. */
  before: Js | undefined;
  /** Whether there was such a backup (for the message when a URL is not in it). */
  hasBackup: boolean;
}

/** The objects inject reads or adds to. */
interface Parts {
  root: J5Object;
  models: J5Node | undefined;
  providers: J5Node | undefined;
  tools: J5Node | undefined;
  exec: J5Node | undefined;
}

function partsOf(root: J5Object): Parts {
  const models = member(root, "models")?.value;
  const tools = member(root, "tools")?.value;
  return {
    root,
    models,
    providers: member(models, "providers")?.value,
    tools,
    exec: member(tools, "exec")?.value,
  };
}

/** Why the file cannot be edited safely (a `$include` where inject would edit, a wrong shape), or undefined. */
function refusalOf({ root, models, providers, tools, exec }: Parts): string | undefined {
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
    if (member(node, INCLUDE))
      return `${where} uses ${INCLUDE}, so what inject would change may live in another file`;
  }
  for (const [where, node] of [
    ["models", models],
    ["models.providers", providers],
  ] as const) {
    if (node && node.kind !== "object") return `${where}: expected an object`;
  }
  return undefined;
}

/** `tools.exec.pathPrepend` with BIN_DIR in it: the edits that add it, and what was done. */
function editPathPrepend(
  { text, style }: EditContext,
  { root, tools, exec }: Parts,
): { edits: Edit[]; state: OpenClawEdit["pathPrepend"] } {
  const pathLiteral = quoteString(BIN_DIR);
  const prependList = `[${pathLiteral}]`;
  const added = (edits: Edit[]) => ({ edits, state: "added" as const });
  const reason = (why: string) => ({ edits: [], state: { reason: why } });
  if (!tools) {
    const exec = inlineObject([["pathPrepend", prependList]], style);
    const value = `${keyText("tools", style)}${style.colon}${inlineObject([["exec", exec]], style)}`;
    return added(appendChild(text, root, value, style));
  }
  if (tools.kind !== "object") return reason("tools is not an object");
  if (!exec) {
    const value = `${keyText("exec", style)}${style.colon}${inlineObject([["pathPrepend", prependList]], style)}`;
    return added(appendChild(text, tools, value, style));
  }
  if (exec.kind !== "object") return reason("tools.exec is not an object");
  const list = member(exec, "pathPrepend")?.value;
  if (!list)
    return added(
      appendChild(text, exec, `${keyText("pathPrepend", style)}${style.colon}${prependList}`, style),
    );
  if (list.kind !== "array") return reason("tools.exec.pathPrepend is not a list");
  const present = list.items.some(
    (i) => i.kind === "scalar" && typeof i.value === "string" && i.value.replace(/\/+$/, "") === BIN_DIR,
  );
  return present ? { edits: [], state: "present" } : added(appendChild(text, list, pathLiteral, style));
}

/** What inject does to one provider: its baseUrl pointed at the sidecar (or already so), or left with why. */
type ProviderOutcome = { edits: Edit[]; change: ProviderChange; upstream: Upstream } | { left: string };

/** One provider of `models.providers`: its baseUrl pointed at its sidecar, its real URL kept for the sidecar. */
function editProvider(ctx: EditContext, id: string, p: J5Node): ProviderOutcome {
  const { text, style } = ctx;
  if (p.kind !== "object") return { left: "not an object" };
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id))
    return { left: "its id cannot be a sidecar path (/llm/<id>: 1-63 chars of [A-Za-z0-9_.-])" };
  const apiNode = member(p, "api")?.value;
  const api = apiNode?.kind === "scalar" ? apiNode.value : undefined;
  if (apiNode && !(GUARDED_APIS as readonly unknown[]).includes(api))
    return {
      left: `api ${JSON.stringify(api)} is not one the context guard speaks (${GUARDED_APIS.join(", ")})`,
    };
  const upstreamApi = apiNode ? undefined : defaultApi(id);
  const target = sidecarUrl(id);
  const baseNode = member(p, "baseUrl")?.value;
  if (!baseNode) {
    const builtIn = BUILT_IN[id];
    if (!builtIn) {
      return {
        left: `it has no baseUrl (OpenClaw's built-in default for "${id}"), which inject does not know: set baseUrl to the provider's real URL and run inject again`,
      };
    }
    return {
      edits: appendChild(text, p, `${keyText("baseUrl", style)}${style.colon}${quoteString(target)}`, style),
      change: { id, from: undefined, already: false, upstream: builtIn.baseUrl },
      upstream: { id, upstream: builtIn.baseUrl, api: upstreamApi },
    };
  }
  if (baseNode.kind !== "scalar" || typeof baseNode.value !== "string")
    return { left: "its baseUrl is not a string" };
  const from = baseNode.value;
  if (isSidecarUrl(from)) {
    const upstream = upstreamFrom(ctx.before, id);
    if (!upstream) {
      return {
        left: `it already points at the sidecar (${from}), and its real URL is not known (${ctx.hasBackup ? "not in the backup" : "no backup from an earlier inject"}): give the sidecar llm.providers.${id}.upstream`,
      };
    }
    return {
      edits: [],
      change: { id, from, already: true, upstream },
      upstream: { id, upstream, api: upstreamApi },
    };
  }
  const why = unusable(from);
  if (why) return { left: why };
  return {
    edits: [{ start: baseNode.start, end: baseNode.end, text: quoteString(target, baseNode.quote) }],
    change: { id, from, already: false, upstream: from },
    upstream: { id, upstream: from, api: upstreamApi },
  };
}

/** The config before any inject, from the backup's text; undefined when there is none or it does not parse. */
function parseBefore(original: string | undefined): Js | undefined {
  try {
    const parsed: unknown = original === undefined ? undefined : JSON5.parse(original);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The edit of one openclaw.json. `original` is the text before any inject (its backup), where
 * the real URLs of providers that already point at the sidecar are found. Throws on text that is
 * not JSON5 (the caller names the file).
 */
export function editOpenClaw(text: string, original?: string): OpenClawEdit | OpenClawRefusal {
  const data: unknown = JSON5.parse(text);
  if (!isObject(data)) return { refused: "expected an object at the top level" };
  const root = parseSource(text) as J5Object;
  const parts = partsOf(root);
  const refused = refusalOf(parts);
  if (refused) return { refused };
  const ctx: EditContext = {
    text,
    style: styleOf(text, root),
    before: parseBefore(original),
    hasBackup: original !== undefined,
  };
  const prepend = editPathPrepend(ctx, parts);
  const edits = [...prepend.edits];
  const result: OpenClawEdit = {
    text,
    changed: false,
    pathPrepend: prepend.state,
    providers: [],
    left: [],
    upstreams: [],
  };
  for (const m of parts.providers?.kind === "object" ? parts.providers.members : []) {
    const outcome = editProvider(ctx, m.key, m.value);
    if ("left" in outcome) {
      result.left.push({ id: m.key, reason: outcome.left });
      continue;
    }
    edits.push(...outcome.edits);
    result.providers.push(outcome.change);
    result.upstreams.push(outcome.upstream);
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
