// biome-ignore-all lint/suspicious/noTemplateCurlyInString: OpenClaw env references are literal "${VAR}" strings
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Io } from "../inject/command.ts";
import { configCommand } from "./command.ts";

/** A small valid tree: one provider through the sidecar, one agent per role. */
export const VALID: Record<string, string> = {
  "base.yaml": `gateway:
  mode: local
  auth: { mode: token, token: '\${OPENCLAW_GATEWAY_TOKEN}' }
models:
  providers:
    openai:
      baseUrl: http://127.0.0.1:18801/llm/openai
      apiKey: \${OPENAI_API_KEY}
      api: openai-responses
      models:
        - { id: gpt-5, contextWindow: 400000, maxTokens: 128000 }
        - { id: gpt-5-mini, contextWindow: 400000, maxTokens: 128000 }
agents:
  defaults:
    model: { primary: openai/gpt-5, fallbacks: [openai/gpt-5-mini] }
`,
  "roles/gateway.yaml": "gateway: { bind: lan }\n",
  "roles/sub-agent.yaml": "agents: { defaults: { model: { primary: openai/gpt-5-mini } } }\n",
  "roles/bot.yaml": "channels: { mattermost: { enabled: true } }\n",
  "agents/gw.yaml": "role: gateway\n",
  "agents/sub1.yaml": "role: sub-agent\n",
  "agents/bot1.yaml": "role: bot\nconfig:\n  channels: { mattermost: { botToken: '${BOT1_TOKEN}' } }\n",
};

/** Writes `files` (null deletes one of VALID) into a fresh directory. */
export function makeTree(overrides: Record<string, string | null> = {}, base = VALID): string {
  const dir = mkdtempSync(join(tmpdir(), "config-tree-"));
  for (const [file, text] of Object.entries({ ...base, ...overrides })) {
    if (text === null) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

export async function run(args: string[], cwd = process.cwd()) {
  let stdout = "";
  let stderr = "";
  const io: Io = {
    env: {},
    cwd,
    out: (t) => {
      stdout += typeof t === "string" ? t : Buffer.from(t).toString();
    },
    err: (t) => {
      stderr += t;
    },
  };
  const code = await configCommand.run(args, io);
  return { code, stdout, stderr };
}

/** Every file under `dir`, relative, sorted (dot-files included: a left-over temporary file shows). */
export function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}
