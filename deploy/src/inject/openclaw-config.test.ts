// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolations and OpenClaw env references are literal "${VAR}" strings
import JSON5 from "json5";
import { describe, expect, it } from "vitest";
import { hostPath } from "./host-path.ts";
import {
  describeEdit,
  editOpenClaw,
  isRefusal,
  type OpenClawEdit,
  type OpenClawRefusal,
} from "./openclaw-config.ts";

const edit = (text: string, original?: string): OpenClawEdit => {
  const e = editOpenClaw(text, original);
  if (isRefusal(e)) throw new Error(`refused: ${e.refused}`);
  return e;
};

/** As `JSON.stringify(config, null, 2)` (OpenClaw's own writes) leaves it: strict JSON. */
const JSON_CONFIG = `{
  "gateway": {
    "mode": "local",
    "port": 18789
  },
  "models": {
    "providers": {
      "deepseek": {
        "baseUrl": "https://api.deepseek.com/v1",
        "apiKey": "\${DEEPSEEK_API_KEY}",
        "api": "openai-completions",
        "models": [
          {
            "id": "deepseek-chat",
            "contextWindow": 128000
          }
        ]
      },
      "anthropic": {
        "baseUrl": "https://api.anthropic.com",
        "apiKey": "sk-ant-api03-INLINE-SECRET",
        "api": "anthropic-messages",
        "models": []
      }
    }
  }
}
`;

/** Hand-written JSON5: comments, bare keys, single quotes, trailing commas, a provider without baseUrl. */
const JSON5_CONFIG = `// OpenClaw, edited by hand
{
  gateway: { mode: 'local', port: 18789 },
  models: {
    providers: {
      // cheap and long context
      deepseek: {
        baseUrl: 'https://api.deepseek.com/v1', // not the beta one
        apiKey: '\${DEEPSEEK_API_KEY}',
        api: 'openai-completions',
        models: [{ id: 'deepseek-chat', contextWindow: 128000, }],
      },
      anthropic: {
        apiKey: 'sk-ant-api03-INLINE-SECRET', /* rotate monthly */
        api: 'anthropic-messages',
      },
    },
  },
  tools: {
    exec: {
      pathPrepend: [
        '~/bin',
      ],
    },
  },
}
`;

describe("editOpenClaw: the smallest text edit, every other byte kept", () => {
  it("strict JSON: baseUrls replaced in place, tools added at the end of the top level", () => {
    const e = edit(JSON_CONFIG);
    expect(e.text).toBe(
      JSON_CONFIG.replace("https://api.deepseek.com/v1", "http://127.0.0.1:18801/llm/deepseek")
        .replace("https://api.anthropic.com", "http://127.0.0.1:18801/llm/anthropic")
        .replace(
          "\n    }\n  }\n}\n",
          '\n    }\n  },\n  "tools": { "exec": { "pathPrepend": ["/opt/clawguard/bin"] } }\n}\n',
        ),
    );
    expect(() => JSON.parse(e.text)).not.toThrow();
    expect(e.upstreams).toEqual([
      { id: "deepseek", upstream: "https://api.deepseek.com/v1", api: undefined },
      { id: "anthropic", upstream: "https://api.anthropic.com", api: undefined },
    ]);
    expect(e.pathPrepend).toBe("added");
    expect(e.left).toEqual([]);
  });

  it("JSON5 with comments: comments, quotes and trailing commas stay; a missing baseUrl is added", () => {
    const e = edit(JSON5_CONFIG);
    expect(e.text).toBe(
      JSON5_CONFIG.replace(
        "baseUrl: 'https://api.deepseek.com/v1',",
        "baseUrl: 'http://127.0.0.1:18801/llm/deepseek',",
      )
        .replace(
          "        api: 'anthropic-messages',\n",
          `        api: 'anthropic-messages',\n        baseUrl: "http://127.0.0.1:18801/llm/anthropic",\n`,
        )
        .replace("        '~/bin',\n", `        '~/bin',\n        "/opt/clawguard/bin",\n`),
    );
    // OpenClaw's built-in default for anthropic is the upstream.
    expect(e.upstreams).toEqual([
      { id: "deepseek", upstream: "https://api.deepseek.com/v1", api: undefined },
      { id: "anthropic", upstream: "https://api.anthropic.com", api: undefined },
    ]);
    const data = JSON5.parse(e.text);
    expect(data.tools.exec.pathPrepend).toEqual(["~/bin", "/opt/clawguard/bin"]);
    expect(data.models.providers.anthropic.apiKey).toBe("sk-ant-api03-INLINE-SECRET");
  });

  it("is idempotent: the edited text needs no edit, and the real URLs then come from the original", () => {
    for (const text of [JSON_CONFIG, JSON5_CONFIG]) {
      const once = edit(text);
      const twice = edit(once.text, text);
      expect(twice.changed).toBe(false);
      expect(twice.text).toBe(once.text);
      expect(twice.upstreams).toEqual(once.upstreams);
      expect(twice.providers.every((p) => p.already)).toBe(true);
    }
  });

  it("never puts a secret in what it reports", () => {
    const lines = describeEdit(edit(JSON_CONFIG)).join("\n");
    expect(lines).not.toContain("INLINE-SECRET");
    expect(lines).toContain(
      "models.providers.anthropic.baseUrl: https://api.anthropic.com -> http://127.0.0.1:18801/llm/anthropic",
    );
    expect(lines).toContain('tools.exec.pathPrepend: + "/opt/clawguard/bin"');
  });

  it.each([
    [
      "one line, no trailing comma",
      `{"tools": {"exec": {"pathPrepend": ["/a"]}}}`,
      `{"tools": {"exec": {"pathPrepend": ["/a", "/opt/clawguard/bin"]}}}`,
    ],
    [
      "one line, trailing comma",
      `{tools: {exec: {pathPrepend: ['/a',]}}}`,
      `{tools: {exec: {pathPrepend: ['/a', "/opt/clawguard/bin",]}}}`,
    ],
    [
      "empty list",
      `{tools: {exec: {pathPrepend: []}}}`,
      `{tools: {exec: {pathPrepend: ["/opt/clawguard/bin"]}}}`,
    ],
    [
      "already there (with a slash)",
      `{tools: {exec: {pathPrepend: ['/opt/clawguard/bin/']}}}`,
      `{tools: {exec: {pathPrepend: ['/opt/clawguard/bin/']}}}`,
    ],
    ["no exec", `{tools: {web: {}}}`, `{tools: {web: {}, exec: { pathPrepend: ["/opt/clawguard/bin"] }}}`],
    [
      "no pathPrepend",
      `{tools: {exec: {host: 'gateway'}}}`,
      `{tools: {exec: {host: 'gateway', pathPrepend: ["/opt/clawguard/bin"]}}}`,
    ],
    ["empty object", `{}`, `{ "tools": { "exec": { "pathPrepend": ["/opt/clawguard/bin"] } } }`],
    [
      "an inline object in a multi-line file, a comment after it",
      `{\n  tools: {\n    exec: { host: 'gateway' } // the exec host\n  }\n}`,
      `{\n  tools: {\n    exec: { host: 'gateway', pathPrepend: ["/opt/clawguard/bin"] } // the exec host\n  }\n}`,
    ],
  ])("tools.exec.pathPrepend: %s", (_name, input, expected) => {
    expect(edit(input).text).toBe(expected);
  });

  it("adds a member after a last entry with a comment on its line, without moving the comment", () => {
    const text = `{\n  models: {\n    providers: {\n      anthropic: {\n        api: 'anthropic-messages' // the Messages API\n      }\n    }\n  }\n}\n`;
    expect(edit(text).text).toBe(
      `{\n  models: {\n    providers: {\n      anthropic: {\n        api: 'anthropic-messages', // the Messages API\n        baseUrl: "http://127.0.0.1:18801/llm/anthropic"\n      }\n    }\n  },\n  tools: { exec: { pathPrepend: ["/opt/clawguard/bin"] } }\n}\n`,
    );
  });

  it("keeps CRLF line endings", () => {
    const text = `{\r\n  "tools": {\r\n    "exec": {\r\n      "pathPrepend": [\r\n        "/a"\r\n      ]\r\n    }\r\n  }\r\n}\r\n`;
    expect(edit(text).text).toBe(text.replace(`"/a"\r\n`, `"/a",\r\n        "/opt/clawguard/bin"\r\n`));
  });

  it("names the api for the sidecar only when openclaw.json names none", () => {
    const e = edit(`{models: {providers: {openai: {}, local: {baseUrl: 'http://vllm:8000/v1'}}}}`);
    expect(e.upstreams).toEqual([
      { id: "openai", upstream: "https://api.openai.com/v1", api: "openai-responses" },
      { id: "local", upstream: "http://vllm:8000/v1", api: "openai-completions" },
    ]);
  });

  it.each([
    [
      "an api the guard does not speak",
      `{baseUrl: 'https://generativelanguage.googleapis.com', api: 'google-generative-ai'}`,
      /api "google-generative-ai" is not one the context guard speaks/,
    ],
    [
      "a URL OpenClaw fills in",
      `{baseUrl: '\${LLM_BASE_URL}', api: 'openai-completions'}`,
      /filled in by OpenClaw from its environment/,
    ],
    ["credentials in the URL", `{baseUrl: 'https://user:pw@llm.example.com/v1'}`, /carries credentials/],
    ["a query", `{baseUrl: 'https://llm.example.com/v1?key=abc'}`, /query or fragment/],
    [
      "no baseUrl, not a built-in",
      `{api: 'openai-completions'}`,
      /no baseUrl \(OpenClaw's built-in default for "p"\), which inject does not know/,
    ],
    [
      "already at the sidecar, no backup",
      `{baseUrl: 'http://127.0.0.1:18801/llm/p'}`,
      /already points at the sidecar .*\(no backup from an earlier inject\)/,
    ],
  ])("leaves a provider with %s as it is, saying why", (_name, provider, reason) => {
    const text = `{models: {providers: {p: ${provider}}}, tools: {exec: {pathPrepend: ['/opt/clawguard/bin']}}}`;
    const e = edit(text);
    expect(e.text).toBe(text);
    expect(e.left).toEqual([{ id: "p", reason: expect.stringMatching(reason) }]);
    expect(e.upstreams).toEqual([]);
    const report = describeEdit(e).join("\n");
    expect(report).toMatch(/models\.providers\.p: left as it is \(direct, unguarded\): /);
    expect(report).not.toContain("pw@");
    expect(report).not.toContain("key=abc");
  });

  it.each([
    [
      "$include for the providers",
      `{models: {providers: {$include: './providers.json5'}}}`,
      /models\.providers uses \$include/,
    ],
    ["$include at the top", `{$include: './base.json5', models: {}}`, /\(top level\) uses \$include/],
    ["providers not an object", `{models: {providers: []}}`, /models\.providers: expected an object/],
    ["an array at the top", `[1]`, /expected an object at the top level/],
  ])("refuses the whole file for %s", (_name, text, reason) => {
    const e = editOpenClaw(text);
    expect(isRefusal(e)).toBe(true);
    expect((e as OpenClawRefusal).refused).toMatch(reason);
  });

  it("throws a SyntaxError on text that is not JSON5", () => {
    expect(() => editOpenClaw(`{models: {providers: {a: {baseUrl: 'x'}}`)).toThrow(SyntaxError);
  });

  it("keeps everything JSON5.parse sees, besides the values it sets", () => {
    for (const text of [JSON_CONFIG, JSON5_CONFIG]) {
      const before = JSON5.parse(text);
      const after = JSON5.parse(edit(text).text);
      for (const id of Object.keys(before.models.providers)) {
        after.models.providers[id].baseUrl = before.models.providers[id].baseUrl;
        if (before.models.providers[id].baseUrl === undefined) delete after.models.providers[id].baseUrl;
      }
      after.tools.exec.pathPrepend = after.tools.exec.pathPrepend.filter(
        (p: string) => p !== "/opt/clawguard/bin",
      );
      if (!before.tools) {
        expect(after.tools).toEqual({ exec: { pathPrepend: [] } });
        delete after.tools;
      }
      expect(after).toEqual(before);
    }
  });
});

describe("hostPath: a bind mount's source as Compose resolves it", () => {
  const dir = "/srv/stack";
  it.each([
    ["./state", {}, "/srv/stack/state"],
    ["/abs/state", {}, "/abs/state"],
    ["~/.openclaw", { HOME: "/home/u" }, "/home/u/.openclaw"],
    ["${OPENCLAW_CONFIG_DIR:-./config}", {}, "/srv/stack/config"],
    ["${OPENCLAW_CONFIG_DIR:-./config}", { OPENCLAW_CONFIG_DIR: "/data/oc" }, "/data/oc"],
    ["${OPENCLAW_CONFIG_DIR:-./config}", { OPENCLAW_CONFIG_DIR: "" }, "/srv/stack/config"],
    ["${BASE:-${ROOT:-.}/x}/state", { ROOT: "/r" }, "/r/x/state"],
    ["$BASE/state", { BASE: "/b" }, "/b/state"],
  ])("%s with %j", (source, env, expected) => {
    expect(hostPath(source, dir, env, undefined)).toEqual({ path: expected });
  });

  it.each([
    ["state", {}, /named volume state/],
    ["${STATE:-state}", {}, /named volume state/],
    ["${OPENCLAW_CONFIG_DIR}", {}, /OPENCLAW_CONFIG_DIR is not set/],
    ["${OPENCLAW_CONFIG_DIR:?set it}", {}, /OPENCLAW_CONFIG_DIR is not set/],
    ["${OPENCLAW_CONFIG_DIR-./config}", { OPENCLAW_CONFIG_DIR: "" }, /resolves to nothing/],
    ["~/.openclaw", {}, /HOME is not set/],
  ])("%s with %j cannot be reached", (source, env, reason) => {
    const r = hostPath(source, dir, env, undefined);
    expect("reason" in r && r.reason).toMatch(reason);
  });

  it("takes long syntax's type over the look of the source", () => {
    expect(hostPath("state", dir, {}, true)).toEqual({ path: "/srv/stack/state" });
    expect("reason" in hostPath("./state", dir, {}, false)).toBe(true);
  });
});
