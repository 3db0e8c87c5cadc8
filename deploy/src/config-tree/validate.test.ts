// biome-ignore-all lint/suspicious/noTemplateCurlyInString: OpenClaw env references are literal "${VAR}" strings
import { describe, expect, it } from "vitest";
import type { Problem } from "./errors.ts";
import { loadTree } from "./load.ts";
import { makeTree, VALID } from "./test-helpers.ts";
import { validateTree } from "./validate.ts";

function problemsOf(overrides: Record<string, string | null>): Problem[] {
  const { tree, problems } = loadTree(makeTree(overrides));
  if (!tree) throw new Error(`tree does not load: ${JSON.stringify(problems)}`);
  return validateTree(tree);
}

const base = VALID["base.yaml"] as string;

describe("validateTree", () => {
  it("finds nothing in a valid tree, SecretRef credentials included", () => {
    expect(problemsOf({})).toEqual([]);
    const ref = base.replace("${OPENAI_API_KEY}", "{ source: env, provider: default, id: OPENAI_API_KEY }");
    expect(problemsOf({ "base.yaml": ref })).toEqual([]);
  });

  it("gateway.mode: required, naming each agent file; a bad value names the file that set it", () => {
    const missing = problemsOf({ "base.yaml": base.replace("  mode: local\n", "") });
    expect(missing.map((p) => [p.file, p.path])).toEqual([
      ["agents/bot1.yaml", "gateway.mode"],
      ["agents/gw.yaml", "gateway.mode"],
      ["agents/sub1.yaml", "gateway.mode"],
    ]);
    expect(missing[0]?.message).toMatch(
      /^required: one of local, remote \(set it in base.yaml, roles\/bot.yaml/,
    );
    const bad = problemsOf({ "roles/gateway.yaml": "gateway: { bind: lan, mode: cluster }\n" });
    expect(bad).toEqual([
      {
        file: "roles/gateway.yaml",
        path: "gateway.mode",
        message: 'expected one of local, remote, got "cluster"',
        agents: ["gw"],
      },
    ]);
  });

  it("at least one provider", () => {
    const none = problemsOf({ "roles/sub-agent.yaml": "models: { providers: { $replace: {} } }\n" });
    expect(none.find((p) => p.path === "models.providers")).toMatchObject({
      file: "agents/sub1.yaml",
      message: expect.stringMatching(/at least one provider/),
    });
  });

  it("the default model: required, <provider>/<model>, and both must be defined", () => {
    const at = "agents.defaults.model.primary";
    const set = (primary: string) =>
      problemsOf({ "roles/sub-agent.yaml": `agents: { defaults: { model: { primary: ${primary} } } }\n` });
    expect(set("gpt-5")).toEqual([
      {
        file: "roles/sub-agent.yaml",
        path: at,
        message: 'expected "<provider>/<model>", got "gpt-5"',
        agents: ["sub1"],
      },
    ]);
    expect(set("anthropic/claude-sonnet-4-5")).toEqual([
      {
        file: "roles/sub-agent.yaml",
        path: at,
        message: 'provider "anthropic" is not defined in models.providers (defined: openai)',
        agents: ["sub1"],
      },
    ]);
    expect(set("openai/gpt-4o")).toEqual([
      {
        file: "roles/sub-agent.yaml",
        path: at,
        message: 'model "gpt-4o" is not among models.providers.openai.models (gpt-5, gpt-5-mini)',
        agents: ["sub1"],
      },
    ]);
    const missing = problemsOf({
      "base.yaml": base.replace("model: { primary: openai/gpt-5, fallbacks: [openai/gpt-5-mini] }", "{}"),
      "roles/sub-agent.yaml": "{}\n",
    });
    expect(missing.map((p) => `${p.file} ${p.path}`)).toEqual([
      `agents/bot1.yaml ${at}`,
      `agents/gw.yaml ${at}`,
      `agents/sub1.yaml ${at}`,
    ]);
    const fallback = problemsOf({
      "agents/gw.yaml": "role: gateway\nconfig: { agents: { defaults: { model: { fallbacks: [x/y] } } } }\n",
    });
    expect(fallback).toEqual([
      {
        file: "agents/gw.yaml",
        path: "agents.defaults.model.fallbacks[0]",
        message: 'provider "x" is not defined in models.providers (defined: openai)',
      },
    ]);
  });

  it("every provider goes through the sidecar", () => {
    const direct = problemsOf({
      "base.yaml": base.replace("http://127.0.0.1:18801/llm/openai", "https://api.openai.com/v1"),
    });
    expect(direct).toEqual([
      {
        file: "base.yaml",
        path: "models.providers.openai.baseUrl",
        message:
          'expected "http://127.0.0.1:18801/llm/openai" (through the sidecar), got "https://api.openai.com/v1"',
        agents: ["bot1", "gw", "sub1"],
      },
    ]);
    const wrongId = problemsOf({
      "roles/bot.yaml":
        "models: { providers: { openai: { baseUrl: 'http://127.0.0.1:18801/llm/anthropic' } } }\n",
    });
    expect(wrongId).toMatchObject([
      { file: "roles/bot.yaml", path: "models.providers.openai.baseUrl", agents: ["bot1"] },
    ]);
  });

  it("every provider has a credential reference", () => {
    const missing = problemsOf({ "base.yaml": base.replace("      apiKey: ${OPENAI_API_KEY}\n", "") });
    expect(missing.map((p) => [p.file, p.path])).toEqual([
      ["agents/bot1.yaml", "models.providers.openai.apiKey"],
      ["agents/gw.yaml", "models.providers.openai.apiKey"],
      ["agents/sub1.yaml", "models.providers.openai.apiKey"],
    ]);
    expect(missing[0]?.message).toMatch(/required: a credential reference, e\.g\. "\$\{OPENAI_API_KEY\}"/);
    const notRef = problemsOf({
      "roles/gateway.yaml": "models: { providers: { openai: { apiKey: { env: OPENAI_API_KEY } } } }\n",
    });
    expect(notRef).toMatchObject([
      {
        file: "roles/gateway.yaml",
        path: "models.providers.openai.apiKey",
        message: /expected a credential reference/,
      },
    ]);
  });

  it("no secret written inline: the file and path where it is written, even when overridden later", () => {
    const literal = problemsOf({
      "base.yaml": base.replace("${OPENAI_API_KEY}", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv"),
      "roles/gateway.yaml": "models: { providers: { openai: { apiKey: '${OPENAI_API_KEY}' } } }\n",
    });
    expect(literal).toEqual([
      {
        file: "base.yaml",
        path: "models.providers.openai.apiKey",
        message: expect.stringMatching(
          /^secret written inline \(looks like an OpenAI-style key \(sk-\.\.\.\)\)/,
        ),
      },
    ]);
    const anthropic = problemsOf({
      "agents/sub1.yaml":
        "role: sub-agent\nconfig:\n  env: { vars: { NOTE: 'key sk-ant-api03-AbCdEfGhIjKlMnOpQrSt' } }\n",
    });
    expect(anthropic).toMatchObject([
      { file: "agents/sub1.yaml", path: "env.vars.NOTE", message: /Anthropic key/ },
    ]);
    const token = problemsOf({
      "agents/bot1.yaml":
        "role: bot\nconfig:\n  channels: { mattermost: { botToken: 8f3k2j9d0s7a6h5g4f3d2s1a0q9w8e7r } }\n",
    });
    expect(token).toMatchObject([
      { file: "agents/bot1.yaml", path: "channels.mattermost.botToken", message: /long random string/ },
    ]);
    const replaced = problemsOf({
      "roles/bot.yaml": "gateway: { auth: { $replace: { mode: token, token: hunter2 } } }\n",
    });
    expect(replaced).toMatchObject([
      { file: "roles/bot.yaml", path: "gateway.auth.token", message: /a literal credential/ },
    ]);
    const envVar = problemsOf({ "roles/gateway.yaml": "env: { vars: { OPENAI_API_KEY: not-a-ref } }\n" });
    expect(envVar).toMatchObject([{ file: "roles/gateway.yaml", path: "env.vars.OPENAI_API_KEY" }]);
  });

  it("provider shape: api and models", () => {
    const p = problemsOf({
      "roles/gateway.yaml":
        "models: { providers: { openai: { api: openai-chat, models: [{ id: gpt-5, contextWindow: -1 }, { id: gpt-5 }, { name: x }] } } }\n",
    });
    expect(p.map((x) => [x.file, x.path])).toEqual([
      // gw's model list replaced base.yaml's: base.yaml's fallback names a model gw no longer has
      ["base.yaml", "agents.defaults.model.fallbacks[0]"],
      ["roles/gateway.yaml", "models.providers.openai.api"],
      ["roles/gateway.yaml", "models.providers.openai.models[0].contextWindow"],
      ["roles/gateway.yaml", "models.providers.openai.models[1].id"],
      ["roles/gateway.yaml", "models.providers.openai.models[2]"],
    ]);
    expect(p[0]).toMatchObject({
      message: 'model "gpt-5-mini" is not among models.providers.openai.models (gpt-5)',
    });
  });

  it("lists every problem at once", () => {
    const many = problemsOf({
      "base.yaml": base
        .replace("  mode: local\n", "")
        .replace("http://127.0.0.1:18801/llm/openai", "https://api.openai.com/v1")
        .replace("${OPENAI_API_KEY}", "sk-live-0123456789abcdefghij"),
    });
    const paths = new Set(many.map((p) => p.path));
    expect(paths).toEqual(
      new Set(["gateway.mode", "models.providers.openai.baseUrl", "models.providers.openai.apiKey"]),
    );
  });
});
