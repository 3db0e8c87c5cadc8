import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCollectorConfig } from "@clawguard/collector/config";
import { actuatorProblems, restartProblems } from "@clawguard/collector/controller/config";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { InjectError } from "./errors.ts";
import { generateCompose } from "./generator.ts";
import { composeData, inject, removeInjection } from "./inject.ts";
import { SCHEMA, schemaProblems } from "./test-schema.ts";

/** The probe inject gives every agent's sidecar: OpenClaw's /readyz on its port. */
const ready = (port: number) => ({
  name: "openclaw-ready",
  kind: "http",
  url: `http://127.0.0.1:${port}/readyz`,
  expectBody: '"ready":true',
});

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const read = (p: string) => readFileSync(here(p), "utf8");
const SEED = "../../examples/seed/compose.yml";
const GOLDEN = "../../examples/seed/compose.injected.yml";
const FIXTURES = [
  "fixtures/official-layout.yml",
  "fixtures/single-gateway-named-volumes.yml",
  "fixtures/agents-with-redis.yml",
];

// biome-ignore lint/suspicious/noExplicitAny: parsed compose files, read field by field in assertions
type Loose = any;
const js = (text: string) => composeData(parseDocument(text, { merge: true })) as Record<string, Loose>;

describe("inject: the seed's topology", () => {
  const original = read(SEED);
  const result = inject(original);

  it("matches the golden file byte for byte", () => {
    expect(result.text).toBe(read(GOLDEN));
  });

  it("is idempotent and removable", () => {
    expect(inject(result.text).text).toBe(result.text);
    expect(removeInjection(result.text).text).toBe(original);
    expect(removeInjection(original).text).toBe(original);
  });

  it("validates against the Compose Specification", () => {
    expect(schemaProblems(js(original))).toEqual([]);
    expect(schemaProblems(js(result.text))).toEqual([]);
  });

  it("puts a sidecar beside every agent, with the agent's namespace, workspace rw and state ro", () => {
    const s = js(result.text).services;
    const agents = [
      "gateway",
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => `sub${i}`),
      "bot-supporter",
      "bot-secguard",
      "bot-opsguard",
    ];
    expect(result.agents.map((a) => a.service)).toEqual(agents);
    for (const a of agents) {
      const sc = s[`${a}-clawguard`];
      expect(sc.network_mode).toBe(`service:${a}`);
      expect(sc.depends_on).toEqual([a]);
      expect(sc.environment).toMatchObject({
        CLAWGUARD_AGENT: a,
        CLAWGUARD_COLLECTOR_URL: "http://clawguard-collector:18800",
        CLAWGUARD_INGEST_TOKEN_FILE: `/run/secrets/clawguard-ingest-${a}`,
        // The sealing key: a secret of the sidecar's own, never on the volume the agent shares.
        CLAWGUARD_SEAL_KEY_FILE: `/run/secrets/clawguard-seal-${a}`,
        CLAWGUARD_WORKSPACE: "/home/node/.openclaw/workspace",
      });
      expect(sc.secrets).toEqual([`clawguard-ingest-${a}`, `clawguard-seal-${a}`]);
      expect(sc.volumes).toContain(`${a}-state:/home/node/.openclaw:ro`);
      expect(sc.volumes.some((v: string) => v.endsWith(":/home/node/.openclaw/workspace"))).toBe(true);
      expect(sc.healthcheck.test.join(" ")).toContain("http://127.0.0.1:18801/healthz");
      expect(s[a].volumes).toContain("clawguard-bin:/opt/clawguard/bin:ro");
    }
    expect(s.sub3["clawguard-bin"]).toBeUndefined();
    expect(s["sub3-clawguard"].environment.CLAWGUARD_ROLE).toBe("sub-agent");
    expect(s["bot-secguard-clawguard"].environment.CLAWGUARD_ROLE).toBe("bot");
  });

  it("uses the file's PostgreSQL, never its Redis (the agents reach that one): its own on clawguard-control", () => {
    const s = js(result.text).services;
    expect(s["clawguard-postgres"]).toBeUndefined();
    expect(s["clawguard-redis"].networks).toEqual(["clawguard-control"]);
    expect(s["clawguard-collector"].environment.REDIS_URL).toBe("redis://clawguard-redis:6379/0");
    expect(s["clawguard-collector"].networks).toEqual(["openclaw", "clawguard-control"]);
    expect(s["gateway-router"].networks).toEqual(["openclaw", "clawguard-control"]);
    expect(s["openclaw-redis"].networks).toEqual(["openclaw"]);
  });

  it("adds a standby that never starts by default and a router on the gateway's ports", () => {
    const s = js(result.text).services;
    expect(s["gateway-standby"].profiles).toEqual(["clawguard-standby"]);
    expect(s["gateway-standby-clawguard"].profiles).toEqual(["clawguard-standby"]);
    // The gateway's volumes, but its inbox: the standby has one of its own.
    const inbox = "clawguard-inbox-gateway:/var/spool/clawguard";
    expect(s["gateway-standby"].volumes).toEqual(
      expect.arrayContaining(s.gateway.volumes.filter((v: unknown) => v !== inbox)),
    );
    expect(s["gateway-standby"].volumes).not.toContain(inbox);
    expect(s["gateway-standby"].volumes).toContain("clawguard-inbox-gateway-standby:/var/spool/clawguard");
    expect(s["gateway-standby"].container_name).toBeUndefined();
    expect(s["gateway-router"].ports).toEqual(["18789:18789"]);
    expect(s["gateway-router"].command.slice(0, 2)).toEqual(["clawguard", "router"]);
    expect(s.gateway.ports).toBeUndefined();
    // Every service that starts by default: only one gateway on the gateway's state.
    const onState = Object.values(s).filter(
      (v: Loose) => !v.profiles && (v.volumes ?? []).includes("gateway-state:/home/node/.openclaw"),
    );
    expect(onState).toHaveLength(1);
  });
});

describe.each(FIXTURES)("inject: fixture %s", (fixture) => {
  const original = read(fixture);
  it("round-trips, is idempotent and validates", () => {
    const once = inject(original).text;
    expect(inject(once).text).toBe(once);
    expect(removeInjection(once).text).toBe(original);
    expect(schemaProblems(js(once))).toEqual([]);
  });
});

it("skips the official file's one-shot CLI and adds PostgreSQL and Redis when there are none", () => {
  const r = inject(read("fixtures/official-layout.yml"));
  expect(r.agents.map((a) => a.service)).toEqual(["openclaw-gateway"]);
  expect(r.skipped.map((s) => s.name)).toEqual(["openclaw-cli"]);
  const s = js(r.text).services;
  expect(s["clawguard-postgres"].volumes).toEqual(["clawguard-pgdata:/var/lib/postgresql/data"]);
  expect(s["clawguard-redis"]).toBeDefined();
  expect(s["openclaw-gateway-clawguard"].volumes).toContain(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
    "${OPENCLAW_CONFIG_DIR:-./config}:/home/node/.openclaw:ro",
  );
});

it("takes the image flags", () => {
  const r = inject(read(SEED), { image: "registry/x/sidecar:9", collectorImage: "registry/x/collector:9" });
  const s = js(r.text).services;
  expect(s["sub1-clawguard"].image).toBe("registry/x/sidecar:9");
  expect(s["clawguard-collector"].image).toBe("registry/x/collector:9");
});

/** `environment` without the CLAWGUARD_ variables inject adds (none when inject added the key for them). */
function withoutWorkspace(environment: unknown, before: unknown): unknown {
  if (Array.isArray(environment))
    return environment.filter((e) => !/^CLAWGUARD_(WORKSPACE|AGENT|INBOX_DIR)=/.test(String(e)));
  if (!environment || typeof environment !== "object") return environment;
  const {
    CLAWGUARD_WORKSPACE: _w,
    CLAWGUARD_AGENT: _a,
    CLAWGUARD_INBOX_DIR: _i,
    ...rest
  } = environment as Record<string, unknown>;
  return before === undefined && Object.keys(rest).length === 0 ? undefined : rest;
}

describe("property: generated compose files", () => {
  const seeds = Array.from({ length: 300 }, (_, i) => i * 7919 + 1);
  it.each(seeds)("seed %i: inject is idempotent, removable, valid, and leaves other keys alone", (seed) => {
    const original = generateCompose(seed);
    const once = inject(original).text;
    expect(inject(once).text).toBe(once);
    expect(removeInjection(once).text).toBe(original);
    const before = js(original);
    const after = js(once);
    expect(schemaProblems(after)).toEqual([]);
    // The Docker socket only where there is a gateway to fail over.
    const ha = /clawguard\.ha: standby/.test(original);
    expect(after.services["clawguard-collector"].volumes !== undefined).toBe(ha);
    expect(after.configs?.["clawguard-collector"] !== undefined).toBe(ha);
    for (const [name, service] of Object.entries(before.services as Record<string, Loose>)) {
      const { volumes, ports, environment, ...rest } = after.services[name];
      const { volumes: v0, ports: p0, environment: e0, ...rest0 } = service;
      expect(rest).toEqual(rest0);
      // An agent's environment gains CLAWGUARD_WORKSPACE, _AGENT and _INBOX_DIR, and nothing else changes.
      expect(withoutWorkspace(environment, e0)).toEqual(e0);
      const own = [`clawguard-inbox-${name}:/var/spool/clawguard`, "clawguard-bin:/opt/clawguard/bin:ro"];
      expect(
        (volumes ?? []).filter(
          (v: unknown) => !own.includes(String(v)) && v !== "clawguard-bin:/opt/clawguard/bin:ro",
        ),
      ).toEqual(v0 ?? []);
      if (ports !== undefined) expect(ports).toEqual(p0);
    }
    for (const key of ["volumes", "secrets", "networks", "name"]) {
      if (before[key] && typeof before[key] === "object") expect(after[key]).toMatchObject(before[key]);
      else if (before[key] !== undefined) expect(after[key]).toEqual(before[key]);
    }
  });
});

describe("real-world shapes, each written here to reproduce what a real file did", () => {
  it("reads a file that shares anchors widely (over the yaml default of 100 aliases)", () => {
    // getsentry/self-hosted merges a few defaults into ~40 services: ~1 500 alias expansions.
    const many = Array.from(
      { length: 60 },
      (_, i) => `  app${i}:\n    <<: *defaults\n    image: example/app:${i}\n`,
    );
    const text = `x-restart: &restart\n  restart: unless-stopped\nx-defaults: &defaults\n  <<: *restart\n  environment: &env\n    TZ: UTC\n  logging: &logging\n    driver: json-file\nservices:\n  gateway:\n    <<: *defaults\n    image: ghcr.io/openclaw/openclaw:latest\n    volumes:\n      - ws:/home/node/.openclaw/workspace\n${many.join("")}`;
    const once = inject(text).text;
    expect(inject(once).text).toBe(once);
    expect(removeInjection(once).text).toBe(text);
    expect(schemaProblems(js(once))).toEqual([]);
  });

  it("names a service that looks like OpenClaw but is built here or runs another image", () => {
    const text = `services:\n  openclaw-gateway:\n    build: .\n    command: ["node", "dist/index.js", "gateway"]\n  agent:\n    image: example.com/openclaw-docker:latest\n    command: openclaw gateway --port 18789\n  openclaw-db:\n    image: postgres:17\n  web:\n    image: nginx\n`;
    const hint =
      "but only OpenClaw images are recognised; label it clawguard.role (gateway, sub-agent or bot) to include it";
    let message = "";
    try {
      inject(text);
    } catch (err) {
      message = (err as Error).message;
    }
    // The PostgreSQL named after OpenClaw is not one.
    expect(message).toMatch(/^services: no agent services: /);
    expect(
      message.endsWith(
        `; skipped: openclaw-gateway (looks like OpenClaw (no image, built here), ${hint}), agent (looks like OpenClaw (image example.com/openclaw-docker:latest), ${hint})`,
      ),
    ).toBe(true);
  });

  it.each([
    ["a bind mount", "./state:/home/node/.openclaw:Z", "./state:/home/node/.openclaw:Z"],
    ["a named volume", "state:/home/node/.openclaw", "state:/home/node/.openclaw"],
    ["a moltbot image, bind mount", "./state:/home/node/.openclaw", "./state:/home/node/.openclaw"],
  ])(
    "a workspace inside the state (OpenClaw's default <state>/workspace, %s): watched through the state mount, read-write",
    (what, mount, sidecarMount) => {
      const image = what.includes("moltbot")
        ? "moltbot/moltbot:2026.1.29"
        : "ghcr.io/openclaw/openclaw:latest";
      const text = `services:\n  gateway:\n    image: ${image}\n    volumes:\n      - ${mount}\n${mount.startsWith("state") ? "volumes:\n  state:\n" : ""}`;
      const r = inject(text);
      expect(schemaProblems(js(r.text))).toEqual([]);
      const sidecar = js(r.text).services["gateway-clawguard"];
      expect(sidecar.environment.CLAWGUARD_WORKSPACE).toBe("/home/node/.openclaw/workspace");
      expect(sidecar.environment.CLAWGUARD_LLM_OPENCLAW_CONFIG).toBe("/home/node/.openclaw/openclaw.json");
      expect(sidecar.volumes.slice(0, 2)).toEqual([sidecarMount, "clawguard-bin:/opt/clawguard/bin"]);
      expect(r.agents[0]?.notes.join("\n")).toMatch(
        /workspace \/home\/node\/\.openclaw\/workspace is inside the mount of .*state: the sidecar gets that mount read-write/,
      );
      expect(removeInjection(r.text).text).toBe(text);
    },
  );
});

const AGENT = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
`;

describe("bad input: an error naming the service and the key", () => {
  const cases: [string, string, RegExp, string | undefined][] = [
    ["invalid YAML", "services:\n  gateway: [\n", /invalid YAML/, undefined],
    ["no agent services", "services:\n  web:\n    image: nginx\n", /no agent services/, undefined],
    [
      "network_mode on an agent",
      AGENT.replace("    volumes:", '    network_mode: "host"\n    volumes:'),
      /services\.gateway\.network_mode: already set to "host"/,
      "gateway",
    ],
    [
      "unknown key",
      AGENT.replace("    volumes:", "    colour: blue\n    volumes:"),
      /services\.gateway\.colour: unknown key/,
      "gateway",
    ],
    [
      "colliding service",
      `${AGENT}  gateway-clawguard:\n    image: busybox\n`,
      /services\.gateway-clawguard: already exists/,
      "gateway-clawguard",
    ],
    [
      "colliding volume",
      `${AGENT}volumes:\n  clawguard-bin: {}\n`,
      /volumes\.clawguard-bin: already exists/,
      undefined,
    ],
    [
      "flow volumes",
      AGENT.replace(
        "    volumes:\n      - ws:/home/node/.openclaw/workspace",
        "    volumes: [ws:/home/node/.openclaw/workspace]",
      ),
      /services\.gateway\.volumes: expected the service's own block list/,
      "gateway",
    ],
    [
      "no workspace",
      AGENT.replace("/home/node/.openclaw/workspace", "/data"),
      /services\.gateway\.volumes: no workspace mount/,
      "gateway",
    ],
    [
      "workspace and state the same mount (labels)",
      AGENT.replace(
        "    volumes:\n      - ws:/home/node/.openclaw/workspace",
        "    labels:\n      clawguard.workspace: /home/node/.openclaw\n    volumes:\n      - ./state:/home/node/.openclaw",
      ),
      /services\.gateway\.volumes: the workspace and the state are the same mount \(\/home\/node\/\.openclaw\); set the label clawguard\.workspace to the workspace inside it \(OpenClaw's default: \/home\/node\/\.openclaw\/workspace\)/,
      "gateway",
    ],
    [
      "no workspace, volumes through extends",
      AGENT.replace(
        "    volumes:\n      - ws:/home/node/.openclaw/workspace",
        "    extends:\n      file: base.yml\n      service: agent",
      ),
      /services\.gateway\.volumes: no workspace mount .*come through extends, which clawguard inject does not follow/,
      "gateway",
    ],
    [
      "alias bomb",
      `x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n${[..."bcdefgh"].map((c, i) => `x-${c}: &${c} [${Array(10).fill(`*${"abcdefg"[i]}`).join(", ")}]`).join("\n")}\n${AGENT}`,
      /YAML aliases: Excessive alias count/,
      undefined,
    ],
    [
      "bad role",
      AGENT.replace("    volumes:", "    labels:\n      clawguard.role: boss\n    volumes:"),
      /services\.gateway\.labels\.clawguard\.role: expected gateway, sub-agent, bot or none, got "boss"/,
      "gateway",
    ],
    [
      "standby on a sub-agent",
      AGENT.replace(
        "    volumes:",
        "    labels:\n      clawguard.role: sub-agent\n      clawguard.ha: standby\n    volumes:",
      ),
      /services\.gateway\.labels\.clawguard\.ha: only a gateway/,
      "gateway",
    ],
    ["several documents", `${AGENT}---\n${AGENT}`, /one YAML document/, undefined],
    [
      "hand-edited markers",
      `${AGENT}  # clawguard-inject:begin service x\n  x:\n    image: busybox\n`,
      /has no matching/,
      undefined,
    ],
  ];
  // The unknown key is the Compose Specification's finding: without the schema it is not made.
  const checked = SCHEMA ? cases : cases.filter(([name]) => name !== "unknown key");
  it.each(checked)("%s", (_name, input, message, service) => {
    let error: unknown;
    try {
      inject(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InjectError);
    expect((error as InjectError).message).toMatch(message);
    expect((error as InjectError).service).toBe(service);
  });
});

describe("the sidecar's config (a config per agent, inline): its probe, the providers' real URLs", () => {
  const withState = AGENT.replace(
    "      - ws:/home/node/.openclaw/workspace\n",
    "      - ws:/home/node/.openclaw/workspace\n      - ./state:/home/node/.openclaw\n",
  );
  const upstreams = () => [
    { id: "deepseek", upstream: "https://api.deepseek.com/v1" },
    { id: "local", upstream: "http://vllm:8000/$v1", api: "openai-completions" as const },
  ];

  it.each([
    ["no configs key", withState],
    ["an existing configs map", `${withState}configs:\n  app:\n    file: ./app.conf\n`],
  ])("with %s: added, valid, idempotent and removable", (_name, text) => {
    const r = inject(text, {}, upstreams);
    expect(r.configs).toEqual(["clawguard-sidecar-gateway"]);
    const c = js(r.text);
    // Compose interpolates config content: a `$` is written `$$`.
    expect(parseDocument(c.configs["clawguard-sidecar-gateway"].content).toJS()).toEqual({
      probe: { probes: [ready(18789)] },
      llm: {
        providers: {
          deepseek: { upstream: "https://api.deepseek.com/v1" },
          local: { upstream: "http://vllm:8000/$$v1", api: "openai-completions" },
        },
      },
    });
    if (text.includes("app:")) expect(c.configs.app).toEqual({ file: "./app.conf" });
    expect(c.services["gateway-clawguard"].environment.CLAWGUARD_CONFIG).toBe("/etc/clawguard/sidecar.yaml");
    expect(schemaProblems(c)).toEqual([]);
    expect(inject(r.text, {}, upstreams).text).toBe(r.text);
    expect(removeInjection(r.text).text).toBe(text);
  });

  it("gives an agent without upstreams its probe alone", () => {
    const r = inject(withState, {}, () => []);
    expect(r.configs).toEqual(["clawguard-sidecar-gateway"]);
    const c = js(r.text);
    expect(parseDocument(c.configs["clawguard-sidecar-gateway"].content).toJS()).toEqual({
      probe: { probes: [ready(18789)] },
    });
    expect(c.services["gateway-clawguard"].environment.CLAWGUARD_CONFIG).toBe("/etc/clawguard/sidecar.yaml");
    expect(r.agents[0]?.notes).toContain("probes http://127.0.0.1:18789/readyz");
  });

  it("probes each agent on the port its command names (--port N, --port=N, an interpolation's default), else 18789", () => {
    const agent = (name: string, command: string) =>
      `  ${name}:\n    image: ghcr.io/openclaw/openclaw:latest\n${command}    volumes:\n      - ${name}-ws:/home/node/.openclaw/workspace\n`;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
    const text = `services:\n${agent("a", '    command: ["openclaw", "gateway", "run", "--port", "18830"]\n')}${agent("b", "    command: openclaw gateway --port=18791 --bind lan\n")}${agent("c", '    command: ["node", "dist/index.js", "gateway", "--port", "${OPENCLAW_PORT:-18820}"]\n')}${agent("d", "")}`;
    const c = js(inject(text).text);
    const urls = ["a", "b", "c", "d"].map(
      (a) => parseDocument(c.configs[`clawguard-sidecar-${a}`].content).toJS().probe.probes[0].url,
    );
    expect(urls).toEqual([
      "http://127.0.0.1:18830/readyz",
      "http://127.0.0.1:18791/readyz",
      "http://127.0.0.1:18820/readyz",
      "http://127.0.0.1:18789/readyz",
    ]);
  });

  it("takes an interpolated port from the variables Compose runs with (the environment over .env), as it runs it", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
    const text = `services:\n  gw:\n    image: ghcr.io/openclaw/openclaw:latest\n    command: openclaw gateway run --port \${GWPORT:-19999}\n    volumes:\n      - gw-ws:/home/node/.openclaw/workspace\n`;
    const url = (vars?: Record<string, string>) =>
      parseDocument(
        js(inject(text, vars ? { vars } : {}).text).configs["clawguard-sidecar-gw"].content,
      ).toJS().probe.probes[0].url;
    expect(url({ GWPORT: "20000" })).toBe("http://127.0.0.1:20000/readyz");
    expect(url({})).toBe("http://127.0.0.1:19999/readyz");
    expect(url()).toBe("http://127.0.0.1:19999/readyz");
  });

  it("refuses a config of the same name already in the file", () => {
    const text = `${withState}configs:\n  clawguard-sidecar-gateway:\n    file: ./mine.yaml\n`;
    expect(() => inject(text, {}, upstreams)).toThrow(
      "configs.clawguard-sidecar-gateway: already exists, and clawguard inject adds a config of that name; rename the existing one",
    );
  });
});

/**
 * What Compose does to a value before the container sees it: `$$` is a `$`, `${VAR}` and
 * `${VAR:?message}` are the variable's value (the latter refused when it is unset or empty).
 */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::\?([^}]*))?\}/g, (match, name, message) => {
    if (match === "$$") return "$";
    const value = env[name];
    if (value === undefined || value === "") throw new Error(`${name}: ${message ?? "unset"}`);
    return value;
  });
}

describe("the collector's failover controller, configured for the HA gateways", () => {
  const seed = inject(read(SEED));
  const collector = () => js(seed.text).services["clawguard-collector"];

  /** The collector's config as the collector itself loads it, after Compose's interpolation. */
  function load(text: string, project: string) {
    const c = js(text);
    const dir = mkdtempSync(join(tmpdir(), "clawguard-collector-config-"));
    try {
      const file = join(dir, "collector.yaml");
      writeFileSync(
        file,
        interpolate(c.configs["clawguard-collector"].content, { COMPOSE_PROJECT_NAME: project }),
      );
      const env = c.services["clawguard-collector"].environment as Record<string, string>;
      expect(env.CLAWGUARD_COLLECTOR_CONFIG).toBe("/etc/clawguard/collector.yaml");
      const config = loadCollectorConfig(file, env, dir);
      expect(actuatorProblems(config.controller.actuator)).toEqual([]);
      expect(restartProblems(config.controller)).toEqual([]);
      return config.controller;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("writes a config the collector loads: the group, its targets, the docker actuator in this project", () => {
    expect(seed.groups).toEqual([{ gateway: "gateway", port: 18789 }]);
    const controller = load(seed.text, "openclaw");
    expect(controller.groups).toEqual([
      {
        name: "gateway",
        primary: "gateway",
        standby: "gateway-standby",
        targets: { gateway: "http://gateway:18789", "gateway-standby": "http://gateway-standby:18789" },
      },
    ]);
    expect(controller.actuator).toMatchObject({
      kind: "docker",
      socket: "/var/run/docker.sock",
      compose: { project: "openclaw", sidecarSuffix: "-clawguard" },
    });
    // Quoted: a project Compose names 123 is still a name, not a number.
    expect(load(seed.text, "123").actuator.compose?.project).toBe("123");
    // Without the project Compose refuses, saying what to set.
    expect(() => load(seed.text, "")).toThrow("COMPOSE_PROJECT_NAME: set COMPOSE_PROJECT_NAME");
  });

  it("mounts the config, the Docker socket and its group into the collector", () => {
    const c = collector();
    expect(c.configs).toEqual([{ source: "clawguard-collector", target: "/etc/clawguard/collector.yaml" }]);
    expect(c.volumes).toEqual(["/var/run/docker.sock:/var/run/docker.sock"]);
    expect(c.group_add).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
      "${DOCKER_GID:?set DOCKER_GID to the group id of /var/run/docker.sock}",
    ]);
    expect(seed.configs.at(-1)).toBe("clawguard-collector");
  });

  it("takes the router's port, one group per HA gateway, beside the sidecars' configs", () => {
    const gateway = (name: string, port: number) =>
      `  ${name}:\n    image: ghcr.io/openclaw/openclaw:latest\n    command: ["node", "dist/index.js", "gateway", "--port", "${port}"]\n    ports:\n      - "127.0.0.1:${port + 1}:${port}"\n    volumes:\n      - ./${name}:/home/node/.openclaw\n      - ${name}-ws:/home/node/.openclaw/workspace\n    labels:\n      clawguard.role: gateway\n      clawguard.ha: standby\n`;
    const text = `services:\n${gateway("gw-a", 18789)}${gateway("gw-b", 19000)}configs:\n  app:\n    file: ./app.conf\n`;
    const upstreams = () => [{ id: "deepseek", upstream: "https://api.deepseek.com/v1" }];
    const r = inject(text, {}, upstreams);
    expect(r.configs).toEqual(["clawguard-sidecar-gw-a", "clawguard-sidecar-gw-b", "clawguard-collector"]);
    const controller = load(r.text, "stack");
    expect(controller.groups.map((g) => [g.name, g.targets])).toEqual([
      ["gw-a", { "gw-a": "http://gw-a:18789", "gw-a-standby": "http://gw-a-standby:18789" }],
      ["gw-b", { "gw-b": "http://gw-b:19000", "gw-b-standby": "http://gw-b-standby:19000" }],
    ]);
    expect(js(r.text).services["gw-b-router"].command).toContain("0.0.0.0:19000");
    expect(js(r.text).configs.app).toEqual({ file: "./app.conf" });
    expect(schemaProblems(js(r.text))).toEqual([]);
    expect(inject(r.text, {}, upstreams).text).toBe(r.text);
    expect(removeInjection(r.text).text).toBe(text);
  });

  it("gives a file without an HA gateway no collector config and no Docker socket", () => {
    const r = inject(AGENT);
    const c = js(r.text).services["clawguard-collector"];
    expect(r.groups).toEqual([]);
    expect(c.volumes).toBeUndefined();
    expect(c.group_add).toBeUndefined();
    expect(c.configs).toBeUndefined();
    expect(c.environment.CLAWGUARD_COLLECTOR_CONFIG).toBeUndefined();
    expect(Object.keys(js(r.text).configs)).toEqual(["clawguard-sidecar-gateway"]);
    expect(r.text).not.toContain("docker.sock");
  });

  it("is taken out by --remove, and injecting again gives the same bytes", () => {
    expect(removeInjection(seed.text).text).toBe(read(SEED));
    expect(removeInjection(seed.text).text).not.toContain("docker.sock");
    expect(inject(seed.text).text).toBe(seed.text);
  });

  it("refuses a config of the same name already in the file", () => {
    const text = `${read(SEED)}configs:\n  clawguard-collector:\n    file: ./mine.yaml\n`;
    expect(() => inject(text)).toThrow(
      "configs.clawguard-collector: already exists, and clawguard inject adds a config of that name; rename the existing one",
    );
  });
});
