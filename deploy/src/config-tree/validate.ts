import type { Problem } from "./errors.ts";
import type { Layer, Tree } from "./load.ts";
import { formatPath, isPlainObject, type Segment } from "./paths.ts";
import { type Rendered, renderTree } from "./render.ts";
import { inlineSecret, isCredentialRef } from "./secrets.ts";

/** Where the context guard listens: every provider's baseUrl must be `${SIDECAR_LLM}/<provider id>`. */
export const SIDECAR_LLM = "http://127.0.0.1:18801/llm";
export const GATEWAY_MODES = ["local", "remote"];
export const APIS = ["openai-completions", "openai-responses", "anthropic-messages"];
const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Every literal secret written in one file of the tree (wherever it ends up, or if it is overridden). */
export function scanSecrets(layer: Layer): Problem[] {
  const problems: Problem[] = [];
  const walk = (v: unknown, key: string, path: Segment[]): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, key, [...path, i]);
      });
    } else if (isPlainObject(v)) {
      if (Object.keys(v).length === 1 && "$replace" in v) {
        walk(v.$replace, key, path);
        return;
      }
      for (const [k, x] of Object.entries(v)) walk(x, k, [...path, k]);
    } else {
      const why = inlineSecret(key, v);
      if (why) {
        problems.push({
          file: layer.file,
          path: formatPath(path),
          message: `secret written inline (${why}): use an env reference "\${VAR}" or a SecretRef { source, provider, id }`,
        });
      }
    }
  };
  walk(layer.data, "", []);
  return problems;
}

function get(obj: unknown, path: readonly string[]): unknown {
  let v = obj;
  for (const k of path) {
    if (!isPlainObject(v) || !Object.hasOwn(v, k)) return undefined;
    v = v[k];
  }
  return v;
}

function isPositiveInt(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/** Adds a problem at a path of one agent's config: at the file that set it, or where to set it. */
type Add = (path: Segment[], message: string, missing?: boolean) => void;

/** The problems of one agent's rendered config, each naming the file that set (or should set) the value. */
export function validateRendered(r: Rendered): Problem[] {
  const problems: Problem[] = [];
  const add: Add = (path, message, missing = false) =>
    problems.push({
      file: missing ? r.agent.file : r.origins.of(path, r.agent.file),
      path: formatPath(path),
      message: missing
        ? `${message} (set it in base.yaml, roles/${r.agent.role}.yaml or ${r.agent.file})`
        : message,
    });
  const c = r.config;
  const mode = get(c, ["gateway", "mode"]);
  if (mode === undefined) add(["gateway", "mode"], `required: one of ${GATEWAY_MODES.join(", ")}`, true);
  else if (!GATEWAY_MODES.includes(mode as string)) {
    add(["gateway", "mode"], `expected one of ${GATEWAY_MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  }
  const models = checkProviders(get(c, ["models", "providers"]), add);
  checkModelRefs(c, models, add);
  return problems;
}

/** `models.providers`: each provider through the sidecar, with a credential reference; its model ids. */
function checkProviders(providers: unknown, add: Add): Map<string, Set<string>> | undefined {
  if (providers === undefined || (isPlainObject(providers) && Object.keys(providers).length === 0)) {
    add(["models", "providers"], "required: at least one provider", true);
    return new Map();
  }
  if (!isPlainObject(providers)) {
    add(["models", "providers"], "expected a mapping of provider id to provider");
    return undefined;
  }
  const models = new Map<string, Set<string>>();
  for (const [id, p] of Object.entries(providers)) {
    const at: Segment[] = ["models", "providers", id];
    if (!PROVIDER_ID.test(id))
      add(at, "provider id: expected 1-63 chars of [A-Za-z0-9_.-] (it is a URL path segment)");
    if (!isPlainObject(p)) {
      add(at, "expected a mapping with baseUrl, apiKey, api, models");
      models.set(id, new Set()); // defined, if broken: a reference to it is not a second problem
      continue;
    }
    checkProvider(id, p, at, add);
    models.set(id, checkModels(p.models, at, add));
  }
  return models;
}

function checkProvider(id: string, p: Record<string, unknown>, at: Segment[], add: Add): void {
  const want = `${SIDECAR_LLM}/${id}`;
  if (p.baseUrl === undefined) add([...at, "baseUrl"], `required: "${want}" (through the sidecar)`, true);
  else if (p.baseUrl !== want && p.baseUrl !== `${want}/`) {
    add([...at, "baseUrl"], `expected "${want}" (through the sidecar), got ${JSON.stringify(p.baseUrl)}`);
  }
  if (p.apiKey === undefined) {
    add(
      [...at, "apiKey"],
      `required: a credential reference, e.g. "\${${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY}"`,
      true,
    );
  } else if (!isCredentialRef(p.apiKey) && !inlineSecret("apiKey", p.apiKey)) {
    add(
      [...at, "apiKey"],
      `expected a credential reference "\${VAR}" or { source: env|file|exec|store, provider?, id }, got ${JSON.stringify(p.apiKey)}`,
    );
  }
  if (p.api === undefined) add([...at, "api"], `required: one of ${APIS.join(", ")}`, true);
  else if (!APIS.includes(p.api as string)) {
    add([...at, "api"], `expected one of ${APIS.join(", ")}, got ${JSON.stringify(p.api)}`);
  }
}

/** A provider's `models` list: non-empty, unique ids, positive sizes. Returns the ids. */
function checkModels(list: unknown, at: Segment[], add: Add): Set<string> {
  const ids = new Set<string>();
  if (!Array.isArray(list) || list.length === 0) {
    add(
      [...at, "models"],
      "required: at least one model { id, contextWindow, maxTokens }",
      list === undefined,
    );
    return ids;
  }
  list.forEach((m, i) => {
    const mAt = [...at, "models", i];
    if (!isPlainObject(m) || typeof m.id !== "string" || m.id === "") {
      add(mAt, "expected a model with a non-empty id");
      return;
    }
    if (ids.has(m.id)) add([...mAt, "id"], `duplicate model id ${JSON.stringify(m.id)}`);
    ids.add(m.id);
    for (const k of ["contextWindow", "maxTokens"]) {
      if (m[k] !== undefined && !isPositiveInt(m[k])) {
        add([...mAt, k], `expected a positive integer, got ${JSON.stringify(m[k])}`);
      }
    }
  });
  return ids;
}

/**
 * `agents.defaults.model.primary` and `fallbacks`: each "<provider>/<model>" naming a defined
 * provider and one of its models. `models` is undefined when `models.providers` is not a mapping.
 */
function checkModelRefs(c: unknown, models: Map<string, Set<string>> | undefined, add: Add): void {
  const checkRef = (path: Segment[], ref: unknown) => {
    if (typeof ref !== "string" || !/^[^/]+\/.+$/.test(ref)) {
      add(path, `expected "<provider>/<model>", got ${JSON.stringify(ref)}`);
      return;
    }
    const slash = ref.indexOf("/");
    const provider = ref.slice(0, slash);
    const model = ref.slice(slash + 1);
    const known = models?.get(provider);
    if (!models?.has(provider)) {
      const ids = models ? [...models.keys()].join(", ") : "";
      add(path, `provider "${provider}" is not defined in models.providers (defined: ${ids || "none"})`);
    } else if (known && known.size > 0 && !known.has(model)) {
      add(
        path,
        `model "${model}" is not among models.providers.${provider}.models (${[...known].join(", ")})`,
      );
    }
  };
  const at = ["agents", "defaults", "model"];
  const primary = get(c, [...at, "primary"]);
  if (primary === undefined)
    add([...at, "primary"], 'required: the default model, "<provider>/<model>"', true);
  else checkRef([...at, "primary"], primary);
  const fallbacks = get(c, [...at, "fallbacks"]);
  if (Array.isArray(fallbacks)) {
    fallbacks.forEach((f, i) => {
      checkRef([...at, "fallbacks", i], f);
    });
  } else if (fallbacks !== undefined) add([...at, "fallbacks"], "expected a list");
}

/** Every problem of the tree: each file's inline secrets, then each agent's rendered config. */
export function validateTree(tree: Tree, only?: string): Problem[] {
  const layers = [tree.base, ...tree.roles.values(), ...[...tree.agents.values()].map((a) => a.config)];
  const problems: Problem[] = layers.flatMap(scanSecrets);
  const { rendered, problems: renderProblems } = renderTree(tree, only);
  problems.push(...renderProblems);
  return mergeAgentProblems(
    rendered.map((r) => [r.agent.name, validateRendered(r)]),
    problems,
  );
}

/**
 * Problems found per agent, added to `problems` once per file, path and message with the agents
 * they show in (an agent's own file names it already); sorted by file.
 */
export function mergeAgentProblems(
  perAgent: Iterable<readonly [string, Problem[]]>,
  problems: Problem[] = [],
): Problem[] {
  const byKey = new Map<string, Problem>();
  for (const p of problems) byKey.set(`${p.file}\0${p.path}\0${p.message}`, p);
  for (const [agent, found] of perAgent) {
    for (const p of found) {
      const key = `${p.file}\0${p.path}\0${p.message}`;
      const seen = byKey.get(key);
      if (seen) {
        if (seen.agents && !seen.agents.includes(agent)) seen.agents.push(agent);
      } else {
        const q = { ...p, agents: [agent] };
        byKey.set(key, q);
        problems.push(q);
      }
    }
  }
  for (const p of problems) {
    if (p.agents && p.agents.length === 1 && p.file.startsWith("agents/")) delete p.agents;
  }
  return problems.sort((a, b) => a.file.localeCompare(b.file));
}
