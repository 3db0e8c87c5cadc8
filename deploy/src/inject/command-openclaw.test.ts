// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolations and OpenClaw env references are literal "${VAR}" strings
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@clawguard/shared/testing";
import JSON5 from "json5";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, parseDocument } from "yaml";
import { injectCommand } from "./command.ts";
import { composeData } from "./inject.ts";
import { schemaProblems } from "./test-schema.ts";

/**
 * `clawguard inject` on a compose file whose agents keep their OpenClaw state in a bind mount:
 * the openclaw.json there is edited (backup first), the providers' real URLs go to the sidecar
 * as a config in the compose file, and --remove puts the original back byte for byte.
 */

// biome-ignore lint/suspicious/noExplicitAny: parsed compose files, read field by field in assertions
type Loose = any;
const js = (text: string) => composeData(parseDocument(text, { merge: true })) as Record<string, Loose>;

const SECRET = "sk-ant-api03-INLINE-SECRET-VALUE";

/** As OpenClaw writes it (JSON.stringify, 2 spaces): one provider per API, a key by env reference and one inline. */
const OPENCLAW_JSON = `{
  "gateway": {
    "mode": "local",
    "port": 18789,
    "auth": {
      "mode": "token",
      "token": "\${OPENCLAW_GATEWAY_TOKEN}"
    }
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
            "name": "DeepSeek V3",
            "contextWindow": 128000,
            "maxTokens": 8192
          }
        ]
      },
      "anthropic": {
        "baseUrl": "https://api.anthropic.com",
        "apiKey": "${SECRET}",
        "api": "anthropic-messages",
        "models": [
          {
            "id": "claude-sonnet-4-5",
            "contextWindow": 200000,
            "maxTokens": 64000
          }
        ]
      }
    }
  },
  "agents": {
    "defaults": {
      "model": {
        "primary": "anthropic/claude-sonnet-4-5"
      }
    }
  }
}
`;

const EDITED = OPENCLAW_JSON.replace('"https://api.deepseek.com/v1"', '"http://127.0.0.1:18801/llm/deepseek"')
  .replace('"https://api.anthropic.com"', '"http://127.0.0.1:18801/llm/anthropic"')
  .replace(/\n}\n$/, ',\n  "tools": { "exec": { "pathPrepend": ["/opt/clawguard/bin"] } }\n}\n');

/** Written by hand: comments, bare keys, single quotes, trailing commas. */
const OPENCLAW_JSON5 = `// gateway config, kept in git
{
  gateway: { mode: 'local', port: 18789 },
  models: {
    providers: {
      deepseek: {
        baseUrl: 'https://api.deepseek.com/v1', // not the beta endpoint
        apiKey: '\${DEEPSEEK_API_KEY}',
        api: 'openai-completions',
      },
      anthropic: {
        baseUrl: 'https://api.anthropic.com',
        apiKey: '${SECRET}', /* rotate monthly */
        api: 'anthropic-messages',
      },
    },
  },
  tools: { exec: { pathPrepend: ['~/bin'] } },
}
`;

const COMPOSE = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ./state:/home/node/.openclaw
      - ./workspace:/home/node/.openclaw/workspace
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "clawguard-inject-openclaw-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const at = (...p: string[]) => join(dir, ...p);
const STATE = () => at("state", "openclaw.json");
const BACKUP = () => at("state", "openclaw.json.clawguard-backup");
const mode = (file: string) => statSync(file).mode & 0o777;
/** A mode every usual umask (022, 002) changes: only an explicit chmod keeps it. */
const MODE = 0o666;

function setUp(config: string, compose = COMPOSE, state = "state"): void {
  writeFileSync(at("compose.yml"), compose);
  mkdirSync(at(state), { recursive: true });
  writeFileSync(at(state, "openclaw.json"), config);
  chmodSync(at(state, "openclaw.json"), MODE);
}

/** The probe inject gives every agent's sidecar: OpenClaw's /readyz on its port. */
const READY_PROBE = {
  name: "openclaw-ready",
  kind: "http",
  url: "http://127.0.0.1:18789/readyz",
  expectBody: '"ready":true',
};

const run = (...args: string[]) => runCommand(injectCommand, args, { cwd: dir });

/** The sidecar's config inject wrote into the compose file, as the sidecar reads it. */
function sidecarConfigOf(compose: string, agent: string): Loose {
  const c = js(compose);
  const sidecar = c.services[`${agent}-clawguard`];
  expect(sidecar.environment.CLAWGUARD_CONFIG).toBe("/etc/clawguard/sidecar.yaml");
  expect(sidecar.configs).toEqual([
    { source: `clawguard-sidecar-${agent}`, target: "/etc/clawguard/sidecar.yaml" },
  ]);
  return parse(c.configs[`clawguard-sidecar-${agent}`].content);
}

describe("an agent whose state is a bind mount with openclaw.json", () => {
  it("edits it (backup first, mode kept), hands the real URLs to the sidecar, and says what it did", async () => {
    setUp(OPENCLAW_JSON);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);

    expect(readFileSync(STATE(), "utf8")).toBe(EDITED);
    expect(readFileSync(BACKUP(), "utf8")).toBe(OPENCLAW_JSON);
    expect(mode(STATE())).toBe(MODE);
    expect(mode(BACKUP())).toBe(MODE);
    expect(readdirSync(at("state")).sort()).toEqual(["openclaw.json", "openclaw.json.clawguard-backup"]);
    const edited = JSON.parse(readFileSync(STATE(), "utf8"));
    expect(edited.models.providers.deepseek.baseUrl).toBe("http://127.0.0.1:18801/llm/deepseek");
    expect(edited.models.providers.anthropic.baseUrl).toBe("http://127.0.0.1:18801/llm/anthropic");
    expect(edited.models.providers.anthropic.apiKey).toBe(SECRET);
    expect(edited.tools.exec.pathPrepend).toEqual(["/opt/clawguard/bin"]);

    const out = readFileSync(at("out.yml"), "utf8");
    expect(sidecarConfigOf(out, "gateway")).toEqual({
      probe: { probes: [READY_PROBE] },
      llm: {
        providers: {
          deepseek: { upstream: "https://api.deepseek.com/v1" },
          anthropic: { upstream: "https://api.anthropic.com" },
        },
      },
    });
    // The sidecar still reads the models and windows from openclaw.json itself.
    expect(js(out).services["gateway-clawguard"].environment.CLAWGUARD_LLM_OPENCLAW_CONFIG).toBe(
      "/home/node/.openclaw/openclaw.json",
    );
    expect(schemaProblems(js(out))).toEqual([]);
    expect(out).not.toContain(SECRET);

    expect(r.err).toContain(`edited ${STATE()}; the original is in ${BACKUP()}`);
    expect(r.err).toContain('tools.exec.pathPrepend: + "/opt/clawguard/bin"');
    expect(r.err).toContain(
      "models.providers.deepseek.baseUrl: https://api.deepseek.com/v1 -> http://127.0.0.1:18801/llm/deepseek",
    );
    expect(r.err).toContain(
      "models.providers.anthropic.baseUrl: https://api.anthropic.com -> http://127.0.0.1:18801/llm/anthropic",
    );
    expect(r.err).toContain("configs   + clawguard-sidecar-gateway");
    expect(r.err).toContain("OpenClaw reloads openclaw.json when it changes");
    expect(r.err).not.toContain(SECRET);
    // Nothing left to do by hand for the OpenClaw config.
    expect(r.err).not.toContain("In the OpenClaw config of");
    expect(r.err).toMatch(/\n2\. Add to each workspace's AGENTS\.md/);
  });

  it("is idempotent: injecting again (the input or the output) changes nothing", async () => {
    setUp(OPENCLAW_JSON);
    await run("compose.yml", "-o", "out.yml");
    const out = readFileSync(at("out.yml"), "utf8");
    const backupTime = statSync(BACKUP()).mtimeMs;

    const again = await run("compose.yml", "-o", "out.yml");
    expect(again.code).toBe(0);
    expect(readFileSync(at("out.yml"), "utf8")).toBe(out);
    expect(readFileSync(STATE(), "utf8")).toBe(EDITED);
    expect(readFileSync(BACKUP(), "utf8")).toBe(OPENCLAW_JSON);
    expect(statSync(BACKUP()).mtimeMs).toBe(backupTime);
    expect(again.err).toContain(
      `${STATE()}: already as inject leaves it (no change); the real URLs are from ${BACKUP()}`,
    );
    expect(again.err).not.toContain("OpenClaw reloads");

    const onOutput = await run("out.yml");
    expect(onOutput.code).toBe(0);
    expect(onOutput.out).toBe(out);
    expect(readFileSync(STATE(), "utf8")).toBe(EDITED);
  });

  it("--remove restores openclaw.json byte for byte (mode too) and takes the upstreams out", async () => {
    setUp(OPENCLAW_JSON);
    await run("compose.yml", "-o", "out.yml");
    chmodSync(STATE(), 0o600); // what inject wrote may be changed in mode; the original's comes back
    const r = await run("out.yml", "--remove", "-o", "back.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(at("back.yml"), "utf8")).toBe(COMPOSE);
    expect(readFileSync(STATE())).toEqual(Buffer.from(OPENCLAW_JSON));
    expect(mode(STATE())).toBe(MODE);
    expect(existsSync(BACKUP())).toBe(false);
    expect(r.err).toContain(`gateway: restored ${STATE()} from ${BACKUP()} (deleted)`);
  });

  it("--remove leaves a file changed since inject alone, keeps the backup and says what to do", async () => {
    setUp(OPENCLAW_JSON);
    await run("compose.yml", "-o", "out.yml");
    const changed = readFileSync(STATE(), "utf8").replace('"port": 18789', '"port": 18790');
    writeFileSync(STATE(), changed);
    const r = await run("out.yml", "--remove", "-o", "back.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(at("back.yml"), "utf8")).toBe(COMPOSE);
    expect(readFileSync(STATE(), "utf8")).toBe(changed);
    expect(readFileSync(BACKUP(), "utf8")).toBe(OPENCLAW_JSON);
    expect(r.err).toContain(`${STATE()} changed since inject edited it`);
    expect(r.err).toContain(`diff ${BACKUP()} ${STATE()}`);
  });

  it("edits JSON5 with comments in place: only the three values change, --remove gives it back", async () => {
    setUp(OPENCLAW_JSON5);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(STATE(), "utf8")).toBe(
      OPENCLAW_JSON5.replace("'https://api.deepseek.com/v1'", "'http://127.0.0.1:18801/llm/deepseek'")
        .replace("'https://api.anthropic.com'", "'http://127.0.0.1:18801/llm/anthropic'")
        .replace("['~/bin']", `['~/bin', "/opt/clawguard/bin"]`),
    );
    expect(JSON5.parse(readFileSync(STATE(), "utf8")).models.providers.anthropic.apiKey).toBe(SECRET);
    expect(sidecarConfigOf(readFileSync(at("out.yml"), "utf8"), "gateway").llm.providers).toEqual({
      deepseek: { upstream: "https://api.deepseek.com/v1" },
      anthropic: { upstream: "https://api.anthropic.com" },
    });
    expect((await run("out.yml", "--remove", "-o", "back.yml")).code).toBe(0);
    expect(readFileSync(STATE(), "utf8")).toBe(OPENCLAW_JSON5);
  });

  it("leaves a file it cannot edit safely ($include) alone and prints the manual step with the reason", async () => {
    const config = `{\n  // providers live elsewhere\n  models: { $include: './models.json5' },\n}\n`;
    setUp(config);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(STATE(), "utf8")).toBe(config);
    expect(existsSync(BACKUP())).toBe(false);
    expect(r.err).toContain(
      `not edited: ${STATE()}: inject leaves it as it is: models uses $include, so what inject would change may live in another file (step 2)`,
    );
    expect(r.err).toContain("2. In the OpenClaw config of gateway");
    expect(r.err).toContain('pathPrepend: ["/opt/clawguard/bin"]');
    expect(r.err).toContain("llm.providers.<id>.upstream");
    // Only the probe: no providers' URLs to give.
    expect(sidecarConfigOf(readFileSync(at("out.yml"), "utf8"), "gateway")).toEqual({
      probe: { probes: [READY_PROBE] },
    });
  });

  it("--no-openclaw reads but does not write: the sidecar gets the URLs, the edit is printed", async () => {
    setUp(OPENCLAW_JSON);
    const r = await run("compose.yml", "-o", "out.yml", "--no-openclaw");
    expect(r.code).toBe(0);
    expect(readFileSync(STATE(), "utf8")).toBe(OPENCLAW_JSON);
    expect(existsSync(BACKUP())).toBe(false);
    expect(sidecarConfigOf(readFileSync(at("out.yml"), "utf8"), "gateway").llm.providers.deepseek).toEqual({
      upstream: "https://api.deepseek.com/v1",
    });
    expect(r.err).toContain(`not edited (--no-openclaw): ${STATE()}; what inject would change (step 2):`);
    expect(r.err).toContain(
      "models.providers.anthropic.baseUrl: https://api.anthropic.com -> http://127.0.0.1:18801/llm/anthropic",
    );
    expect(r.err).toContain(`2. Edit ${STATE()} (gateway) as listed above`);
    expect(r.err).not.toContain("OpenClaw reloads");
  });

  it("only looks when the compose file goes to stdout: openclaw.json stays, the edit is printed", async () => {
    setUp(OPENCLAW_JSON);
    const r = await run("compose.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(STATE(), "utf8")).toBe(OPENCLAW_JSON);
    expect(existsSync(BACKUP())).toBe(false);
    expect(sidecarConfigOf(r.out, "gateway").llm.providers.deepseek).toEqual({
      upstream: "https://api.deepseek.com/v1",
    });
    expect(r.err).toContain(
      `not edited (the compose file went to stdout; with -o, inject makes the edit): ${STATE()}`,
    );
    expect(r.err).toContain(`2. Edit ${STATE()} (gateway) as listed above`);
  });

  it("finds the state through ${VAR:-default} and the .env beside the compose file", async () => {
    const compose = COMPOSE.replace("./state:", "${OPENCLAW_CONFIG_DIR:-./config}:");
    setUp(OPENCLAW_JSON, compose, "oc");
    writeFileSync(at(".env"), "# written by docker-setup.sh\nOPENCLAW_CONFIG_DIR=./oc\n");
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(at("oc", "openclaw.json"), "utf8")).toBe(EDITED);
    expect(r.err).toContain(`edited ${at("oc", "openclaw.json")}`);
  });

  it("gives the standby's sidecar the same config, configures the failover and says what is left", async () => {
    const compose = COMPOSE.replace(
      "    volumes:",
      '    ports:\n      - "18789:18789"\n    labels:\n      clawguard.ha: standby\n    volumes:',
    );
    setUp(OPENCLAW_JSON, compose);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    const out = readFileSync(at("out.yml"), "utf8");
    const s = js(out).services;
    expect(s["gateway-standby-clawguard"].configs).toEqual(s["gateway-clawguard"].configs);
    expect(schemaProblems(js(out))).toEqual([]);
    expect(r.err).not.toContain("not implemented");
    expect(r.err).toContain('answers 503 "no route"');
    expect(r.err).toContain("clawguard route nginx --group gateway");
    // The collector gets both configs' worth of wiring; the report says what is left.
    expect(r.err).toContain(
      "configs   + clawguard-sidecar-gateway (the providers' real URLs, for the sidecars at /etc/clawguard/sidecar.yaml); + clawguard-collector (failover of gateway, for clawguard-collector at /etc/clawguard/collector.yaml)",
    );
    expect(r.err).toContain(
      "group gateway: gateway (http://gateway:18789), standby gateway-standby (http://gateway-standby:18789)",
    );
    expect(r.err).toContain(
      "docker compose --profile clawguard-standby create gateway-standby gateway-standby-clawguard",
    );
    expect(r.err).toContain('echo "DOCKER_GID=$(stat -c %g /var/run/docker.sock)" >> .env');
    expect(r.err).toContain("it exits 78");
    expect(r.err).not.toContain("Give clawguard-collector a");
  });

  it("tells nothing of failover or the Docker socket without an HA gateway", async () => {
    setUp(OPENCLAW_JSON);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(r.err).not.toContain("High availability");
    expect(r.err).not.toContain("docker.sock");
    expect(r.err).not.toContain("clawguard-collector (failover");
  });

  it("edits a state directory two agents share once", async () => {
    const compose = `${COMPOSE}  sub1:\n    image: ghcr.io/openclaw/openclaw:latest\n    volumes:\n      - ./state:/home/node/.openclaw\n      - ./workspace:/home/node/.openclaw/workspace\n`;
    setUp(OPENCLAW_JSON, compose);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(readFileSync(STATE(), "utf8")).toBe(EDITED);
    expect(readFileSync(BACKUP(), "utf8")).toBe(OPENCLAW_JSON);
    expect(r.err).toContain(`${STATE()}: the same file as gateway's`);
    const out = readFileSync(at("out.yml"), "utf8");
    expect(sidecarConfigOf(out, "sub1")).toEqual(sidecarConfigOf(out, "gateway"));
  });
});

describe("what inject does not edit", () => {
  it("a named volume: today's instructions, nothing read or written", async () => {
    writeFileSync(
      at("compose.yml"),
      `${COMPOSE.replace("./state:", "gateway-state:")}volumes:\n  gateway-state:\n`,
    );
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      "not edited: its state mount /home/node/.openclaw: it is the named volume gateway-state, which inject cannot reach (step 2)",
    );
    expect(r.err).toContain('tools: { exec: { pathPrepend: ["/opt/clawguard/bin"] } }');
    expect(r.err).toContain('baseUrl: "http://127.0.0.1:18801/llm/<id>"');
    // Only the probe: no providers' URLs to give.
    expect(sidecarConfigOf(readFileSync(at("out.yml"), "utf8"), "gateway")).toEqual({
      probe: { probes: [READY_PROBE] },
    });
    expect(readdirSync(dir).sort()).toEqual(["compose.yml", "out.yml"]);
  });

  it("a bind mount without openclaw.json yet: the manual step, saying where it will be", async () => {
    writeFileSync(at("compose.yml"), COMPOSE);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(0);
    expect(r.err).toContain(`there is no ${at("state", "openclaw.json")} yet`);
    expect(r.err).toContain("2. In the OpenClaw config of gateway");
  });

  it.each([
    [
      "not JSON5",
      `{\n  "models": { "providers": { "a": { "baseUrl": "https://x" } }\n`,
      /is not valid JSON5 \(JSON5: invalid end of input at 3:1\)/,
    ],
    ["not a file", undefined, /is not a regular file/],
  ])(
    "an openclaw.json that is %s: exit 2, the file named, nothing written",
    async (_name, content, message) => {
      writeFileSync(at("compose.yml"), COMPOSE);
      mkdirSync(at("state"));
      if (content === undefined) mkdirSync(STATE());
      else writeFileSync(STATE(), content);
      const r = await run("compose.yml", "-o", "out.yml");
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      expect(r.err).toContain(
        `clawguard inject: compose.yml: services.gateway: its OpenClaw config ${STATE()}: `,
      );
      expect(r.err).toMatch(message);
      expect(r.err).toContain("nothing was written");
      expect(readdirSync(dir).sort()).toEqual(["compose.yml", "state"]);
      expect(readdirSync(at("state"))).toEqual(["openclaw.json"]);
      if (content !== undefined) expect(readFileSync(STATE(), "utf8")).toBe(content);
    },
  );

  it.skipIf(process.getuid?.() === 0)("an unreadable openclaw.json: exit 2, the file named", async () => {
    setUp(OPENCLAW_JSON);
    chmodSync(STATE(), 0o000);
    const r = await run("compose.yml", "-o", "out.yml");
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${STATE()}: cannot read: EACCES`);
    expect(existsSync(at("out.yml"))).toBe(false);
  });
});
