import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { injectCommand } from "./command.ts";
import { composeData, inject, removeInjection } from "./inject.ts";
import { schemaProblems } from "./test-schema.ts";

/**
 * Shapes real compose files have that inject mishandled on a real Docker Engine (issue 15): each
 * file here is written after the real one's layout. test/docker runs the injected files themselves.
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const read = (p: string) => readFileSync(here(p), "utf8");
// biome-ignore lint/suspicious/noExplicitAny: parsed compose files, read field by field in assertions
type Loose = any;
const js = (text: string) => composeData(parseDocument(text, { merge: true })) as Record<string, Loose>;
const tmp = mkdtempSync(join(tmpdir(), "clawguard-shapes-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * The real Compose's verdict on a file (`docker compose config -q`), when test/support/docker-engine.sh
 * has unpacked it under the cache (.ci/run does): its complaint, "" when it accepts the file, or
 * undefined when it is not there. Secrets' files and the variables inject requires are provided.
 */
const ENGINE = join(process.env.CLAWGUARD_CACHE ?? join(homedir(), ".cache/clawguard"), "docker-engine");
function composeVerdict(text: string, vars: Record<string, string> = {}): string | undefined {
  const docker = join(ENGINE, "bin/docker");
  if (!existsSync(docker) || !existsSync(join(ENGINE, "docker-config/cli-plugins/docker-compose")))
    return undefined;
  const file = join(tmp, "verdict.yml");
  writeFileSync(file, text);
  const r = spawnSync(docker, ["compose", "-p", "verdict", "-f", file, "config", "-q"], {
    encoding: "utf8",
    cwd: tmp,
    env: {
      PATH: process.env.PATH,
      DOCKER_CONFIG: join(ENGINE, "docker-config"),
      DOCKER_GID: "0",
      HOME: tmp,
      ...vars,
    },
  });
  return r.status === 0 ? "" : `${r.stderr}${r.stdout}`.trim();
}

/** Injects, validates (and has Compose check it, where it is), injects again (same bytes) and removes. */
function roundTrip(text: string): string {
  const out = inject(text).text;
  expect(schemaProblems(js(out))).toEqual([]);
  const verdict = composeVerdict(out);
  if (verdict !== undefined) expect(verdict).toBe("");
  expect(inject(out).text).toBe(out);
  expect(removeInjection(out).text).toBe(text);
  return out;
}

describe("profiles", () => {
  const text = `services:
  app:
    image: nginx
  bot-ops:
    image: ghcr.io/openclaw/openclaw:latest
    profiles: ["bots"]
    volumes:
      - ops-state:/home/node/.openclaw
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    profiles:
      - agents
      - all
    ports:
      - "18789:18789"
    labels:
      clawguard.ha: standby
    volumes:
      - ./state:/home/node/.openclaw
volumes:
  ops-state:
`;
  it("an agent under profiles: its sidecar and router carry the same ones (Compose refused the file before)", () => {
    const s = js(roundTrip(text)).services;
    expect(s["bot-ops-clawguard"].profiles).toEqual(["bots"]);
    expect(s["gateway-clawguard"].profiles).toEqual(["agents", "all"]);
    expect(s["gateway-router"].profiles).toEqual(["agents", "all"]);
    expect(s["gateway-standby"].profiles).toEqual(["clawguard-standby"]);
    expect(s["gateway-standby-clawguard"].profiles).toEqual(["clawguard-standby"]);
    // Without a profile of their own, they start with everything (the collector and its stores).
    expect(s["clawguard-collector"].profiles).toBeUndefined();
  });
});

describe("YAML document markers", () => {
  const body = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ./state:/home/node/.openclaw
      - ./workspace:/home/node/.openclaw/workspace
`;
  it.each([
    ["an end marker", `${body}...\n`],
    ["a start and an end marker", `---\n${body}...\n`],
    ["an end marker, a comment after it", `${body}...\n# the end\n`],
    ["an end marker without a final newline", `${body}...`],
  ])("%s: the top-level blocks go before it", (_what, text) => {
    const out = roundTrip(text);
    const lines = out.split("\n");
    const end = lines.indexOf("...");
    expect(end).toBeGreaterThan(0);
    expect(lines.slice(end).join("\n")).not.toMatch(/clawguard/);
    expect(Object.keys(js(out).volumes)).toContain("clawguard-bin");
  });
});

describe("bytes that are not UTF-8", () => {
  it("are refused with exit 2 naming the line, and nothing is written (Compose refuses them too)", async () => {
    const file = join(tmp, "latin1.yml");
    const bytes = Buffer.concat([
      Buffer.from("services:\n  gateway:\n    image: ghcr.io/openclaw/openclaw:latest\n    # caf", "utf8"),
      Buffer.from([0xe9]),
      Buffer.from("\n    volumes:\n      - ./ws:/home/node/.openclaw/workspace\n"),
    ]);
    writeFileSync(file, bytes);
    for (const args of [
      [file, "-o", join(tmp, "out.yml")],
      [file, "--remove"],
    ]) {
      const r = await runCommand(injectCommand, args, { cwd: tmp });
      expect(r.code).toBe(2);
      expect(r.err).toBe(
        `clawguard inject: ${file}: line 4: bytes that are not UTF-8; Compose reads compose files as UTF-8 and refuses this one too: save it as UTF-8\n`,
      );
      expect(r.out).toBe("");
    }
    expect(readFileSync(file)).toEqual(bytes);
  });

  it("UTF-8 with a byte order mark and CJK comments comes back byte for byte", async () => {
    const file = join(tmp, "bom.yml");
    const text =
      "\uFEFF# 网关\nservices:\n  gateway: # 网关\n    image: openclaw/openclaw:1\n    volumes:\n      - ws:/home/node/.openclaw/workspace\nvolumes:\n  ws:\n";
    writeFileSync(file, text);
    const out = join(tmp, "bom.out.yml");
    expect((await runCommand(injectCommand, [file, "-o", out, "--no-openclaw"], { cwd: tmp })).code).toBe(0);
    const r = await runCommand(injectCommand, [out, "--remove"], { cwd: tmp });
    expect(r.code).toBe(0);
    expect(Buffer.from(r.out)).toEqual(Buffer.from(text));
  });
});

describe("HA on OpenClaw's own layout (gateway 18789, bridge 18790)", () => {
  const text = read("fixtures/official-layout.yml").replace(
    "    init: true\n",
    "    init: true\n    labels:\n      clawguard.ha: standby\n",
  );
  it("the router takes over every published port and serves each (the bridge from the live one's 18790)", () => {
    const r = inject(text);
    const s = js(roundTrip(text)).services;
    expect(s["openclaw-gateway-router"].ports).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolations, kept as written
      "${OPENCLAW_GATEWAY_PORT:-18789}:18789",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolations, kept as written
      "${OPENCLAW_BRIDGE_PORT:-18790}:18790",
    ]);
    expect(s["openclaw-gateway-router"].command).toEqual([
      "clawguard",
      "router",
      "--group",
      "openclaw-gateway",
      "--target",
      "http://openclaw-gateway:18789",
      "--target",
      "http://openclaw-gateway-standby:18789",
      "--listen",
      "0.0.0.0:18789",
      "--port",
      "18790",
    ]);
    expect(s["openclaw-gateway"].ports).toBeUndefined();
    expect(s["openclaw-gateway-standby"].ports).toBeUndefined();
    expect(r.agents[0]?.notes.join("; ")).toMatch(
      /ports 18789, 18790 moved to openclaw-gateway-router \(kept as a comment\)/,
    );
    // The failover group still names the gateway port.
    expect(r.groups).toEqual([{ gateway: "openclaw-gateway", port: 18789 }]);
    expect(inject(r.text).text).toBe(r.text);
    expect(removeInjection(r.text).text).toBe(text);
  });

  it("a flow list moves whole; one mixing ports with a range is refused, naming the key", () => {
    const flow = (ports: string) =>
      text.replace(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolations, kept as written
        '    ports:\n      - "${OPENCLAW_GATEWAY_PORT:-18789}:18789"\n      - "${OPENCLAW_BRIDGE_PORT:-18790}:18790"\n',
        `    ports: ${ports}\n`,
      );
    expect(flow("x")).not.toBe(text);
    const whole = inject(flow('["18789:18789", "18790:18790"]'));
    expect(js(whole.text).services["openclaw-gateway-router"].ports).toEqual(["18789:18789", "18790:18790"]);
    expect(js(whole.text).services["openclaw-gateway"].ports).toBeUndefined();
    expect(() => inject(flow('["18789:18789", "18800-18810:18800-18810"]'))).toThrow(
      /services\.openclaw-gateway\.ports: a flow list \[\.\.\.\] with ports the router takes over and others it cannot/,
    );
  });

  it("a port range stays with the gateway, and the report says it is not served while its standby serves", () => {
    const ranged = text.replace(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolations, kept as written
      '      - "${OPENCLAW_BRIDGE_PORT:-18790}:18790"\n',
      '      - "18800-18810:18800-18810"\n',
    );
    const r = inject(ranged);
    const s = js(r.text).services;
    expect(s["openclaw-gateway"].ports).toEqual(["18800-18810:18800-18810"]);
    expect(s["openclaw-gateway-router"].command).not.toContain("--port");
    expect(r.agents[0]?.notes.join("; ")).toMatch(
      /port 18789 moved to openclaw-gateway-router \(kept as a comment\); 18800-18810:18800-18810 stay on openclaw-gateway/,
    );
  });
});

describe("mount options", () => {
  it("the sidecar's copies keep them (SELinux :Z, :z, nocopy); the state is read-only in any case", () => {
    const text = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ./state:/home/node/.openclaw:rw,z
      - ./workspace:/home/node/.openclaw/workspace:Z
  worker:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - type: volume
        source: ws
        target: /home/node/.openclaw/workspace
        volume:
          nocopy: true
      - type: bind
        source: ./worker-state
        target: /home/node/.openclaw
        read_only: true
  reader:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ./reader-state:/home/node/.openclaw:ro
      - ws:/home/node/.openclaw/workspace:ro
volumes:
  ws:
`;
    const s = js(roundTrip(text)).services;
    expect(s["gateway-clawguard"].volumes.slice(0, 2)).toEqual([
      "./workspace:/home/node/.openclaw/workspace:Z",
      "./state:/home/node/.openclaw:ro,z",
    ]);
    expect(s["worker-clawguard"].volumes.slice(0, 2)).toEqual([
      { type: "volume", source: "ws", target: "/home/node/.openclaw/workspace", volume: { nocopy: true } },
      { type: "bind", source: "./worker-state", target: "/home/node/.openclaw", read_only: true },
    ]);
    // A workspace the agent only reads: the sidecar's copy says the same.
    expect(s["reader-clawguard"].volumes.slice(0, 2)).toEqual([
      "ws:/home/node/.openclaw/workspace:ro",
      "./reader-state:/home/node/.openclaw:ro",
    ]);
  });
});

describe("clawguard's control plane (its Redis) beside an app's Redis the agents share", () => {
  const text = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
    labels:
      clawguard.ha: standby
  sub1:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
  cache:
    image: redis:7-alpine
volumes:
  ws:
`;
  it("is its own Redis on an internal network that only the collector and the routers join (an agent rewrote the routes in the app's)", () => {
    const r = inject(text);
    const doc = js(roundTrip(text));
    const s = doc.services;
    expect(r.services).toContain("clawguard-redis");
    expect(r.warnings).toEqual([]);
    expect(s["clawguard-redis"].networks).toEqual(["clawguard-control"]);
    expect(s["clawguard-redis"].command).toContain("noeviction");
    expect(s["clawguard-postgres"].networks).toEqual(["clawguard-control"]);
    expect(doc.networks).toEqual({
      "clawguard-control": { internal: true, labels: { "clawguard.injected": "true" } },
    });
    for (const name of ["clawguard-collector", "gateway-router"]) {
      expect(s[name].networks).toEqual(["default", "clawguard-control"]);
      expect(s[name].environment.REDIS_URL).toBe("redis://clawguard-redis:6379/0");
    }
    const onControl = Object.keys(s).filter((n) => (s[n].networks ?? []).includes("clawguard-control"));
    expect(onControl.sort()).toEqual([
      "clawguard-collector",
      "clawguard-postgres",
      "clawguard-redis",
      "gateway-router",
    ]);
    // The dashboard's host port: 18800 unless CLAWGUARD_COLLECTOR_PORT moves it (a second project).
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
    expect(s["clawguard-collector"].ports).toEqual(["127.0.0.1:${CLAWGUARD_COLLECTOR_PORT:-18800}:18800"]);
    // The app's Redis is left as it was, and nothing of clawguard's names it.
    expect(s.cache).toEqual({ image: "redis:7-alpine" });
    expect(r.text).not.toMatch(/redis:\/\/cache/);
  });
});

describe("an HA gateway on a port of its own", () => {
  const base = (command: string, ports = "") => `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    command: ${command}
${ports}    volumes:
      - ws:/home/node/.openclaw/workspace
    labels:
      clawguard.ha: standby
volumes:
  ws:
`;
  it.each([
    [
      "--port from the environment (.env)",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
      base('["node", "dist/index.js", "gateway", "--port", "${OC_PORT:?set OC_PORT}"]'),
      { OC_PORT: "28000" },
    ],
    ["a literal --port and no ports", base('["node", "dist/index.js", "gateway", "--port", "28000"]'), {}],
    [
      "a literal --port published on another host port",
      base('["node", "dist/index.js", "gateway", "--port", "28000"]', '    ports:\n      - "8080:28000"\n'),
      {},
    ],
  ])(
    "%s: the failover group's targets, the router and the probe all use it (failover waited for 18789)",
    (_what, text, vars) => {
      const r = inject(text, { vars });
      expect(r.groups).toEqual([{ gateway: "gateway", port: 28000 }]);
      const doc = js(r.text);
      const s = doc.services;
      const router = s["gateway-router"];
      expect(router.command.slice(0, 4)).toEqual(["clawguard", "router", "--group", "gateway"]);
      const arg = (flag: string) =>
        router.command.flatMap((a: string, i: number) => (a === flag ? [router.command[i + 1]] : []));
      expect(arg("--listen")).toEqual(["0.0.0.0:28000"]);
      expect(arg("--target")).toEqual(["http://gateway:28000", "http://gateway-standby:28000"]);
      expect(router.command).not.toContain("--port");
      expect(router.healthcheck.test.join(" ")).toContain("connect(28000,");
      const controller = parseDocument(doc.configs["clawguard-collector"].content).toJS().controller;
      expect(controller.groups[0].targets).toEqual({
        gateway: "http://gateway:28000",
        "gateway-standby": "http://gateway-standby:28000",
      });
      const probe = parseDocument(doc.configs["clawguard-sidecar-gateway"].content).toJS().probe;
      expect(probe.probes[0].url).toBe("http://127.0.0.1:28000/readyz");
      expect(schemaProblems(doc)).toEqual([]);
      const verdict = composeVerdict(r.text, vars);
      if (verdict !== undefined) expect(verdict).toBe("");
    },
  );
});

describe("an agent that runs as a user of its own", () => {
  it("has its sidecar (and its standby's) run as that user (uid 1000 could not read its openclaw.json)", () => {
    const text = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    user: "1001:1001"
    volumes:
      - state:/home/node/.openclaw
    labels:
      clawguard.ha: standby
  sub1:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
volumes:
  state:
  ws:
`;
    const s = js(roundTrip(text)).services;
    expect(s["gateway-clawguard"].user).toBe("1001:1001");
    expect(s["gateway-standby"].user).toBe("1001:1001");
    expect(s["gateway-standby-clawguard"].user).toBe("1001:1001");
    // No user: the image's (1000), as OpenClaw's.
    expect(s["sub1-clawguard"].user).toBeUndefined();
  });
});

describe("each agent's inbox", () => {
  it("is a volume of its own that only the agent and its sidecar mount, named to both (another agent forged drafts in the shared workspace's)", () => {
    const text = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
    labels:
      clawguard.ha: standby
  sub1:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
volumes:
  ws:
`;
    const doc = js(roundTrip(text));
    const s = doc.services;
    const mounts = (name: string) =>
      (s[name].volumes ?? []).filter(
        (v: unknown) => typeof v === "string" && v.startsWith("clawguard-inbox-"),
      );
    for (const [agent, sidecar] of [
      ["gateway", "gateway-clawguard"],
      ["sub1", "sub1-clawguard"],
      ["gateway-standby", "gateway-standby-clawguard"],
    ] as const) {
      const own = [`clawguard-inbox-${agent}:/var/spool/clawguard`];
      expect(mounts(agent)).toEqual(own);
      expect(mounts(sidecar)).toEqual(own);
      expect(s[agent].environment.CLAWGUARD_INBOX_DIR).toBe("/var/spool/clawguard/inbox");
      expect(s[sidecar].environment.CLAWGUARD_INBOX_DIR).toBe("/var/spool/clawguard/inbox");
      expect(doc.volumes[`clawguard-inbox-${agent}`]).toEqual({ labels: { "clawguard.injected": "true" } });
    }
    for (const name of ["clawguard-collector", "gateway-router", "clawguard-redis", "clawguard-postgres"])
      expect(mounts(name)).toEqual([]);
  });
});

describe("a 5 MB compose file", () => {
  it("injects in the time of a few plain parses of it (no quadratic duplicate-key check, no parse after parse)", () => {
    const services: string[] = [];
    for (let i = 0, size = 0; size < 5_000_000; i++) {
      const env = Array.from({ length: 20 }, (_, k) => `      VAR_${k}: "value ${i}-${k}"`).join("\n");
      services.push(`  app${i}:\n    image: example.com/app:${i}\n    environment:\n${env}\n`);
      size += services[i]?.length ?? 0;
    }
    const text = `services:\n  gateway:\n    image: ghcr.io/openclaw/openclaw:latest\n    volumes:\n      - ws:/home/node/.openclaw/workspace\n${services.join("")}volumes:\n  ws:\n`;
    expect(text.length).toBeGreaterThan(5_000_000);
    // Measured against the yaml library's own parse of it, on this machine at this moment: absolute
    // times on a shared CI machine vary fivefold with its load. Input and output are each parsed
    // once (and validated); before, 5 parses and a quadratic key check took 67 s against 22 s now
    // (2 cores under a load of 14); a plain parse took 4 s there.
    let started = performance.now();
    parseDocument(text, { uniqueKeys: false });
    const parse = performance.now() - started;
    started = performance.now();
    const out = inject(text).text;
    const elapsed = performance.now() - started;
    console.log(
      `inject of a ${(text.length / 1e6).toFixed(1)} MB file: ${Math.round(elapsed)} ms (one plain parse: ${Math.round(parse)} ms)`,
    );
    expect(elapsed).toBeLessThan(4 * parse);
    expect(removeInjection(out).text).toBe(text);
  }, 120_000);

  it("a duplicate key is still refused, naming it and its line", () => {
    const text = "services:\n  gateway:\n    image: a\n    image: b\n";
    expect(() => inject(text)).toThrow('invalid YAML: duplicate key "image" at line 4');
  });
});

describe("a service that extends another", () => {
  it("is named in the report when its image comes through extends (it was passed over in silence)", () => {
    const text = `services:
  gw-a:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ./a:/home/node/.openclaw
  gw-b:
    extends:
      file: base.yml
      service: common
    command: openclaw gateway run --port 19000
`;
    const r = inject(text);
    expect(r.skipped).toContainEqual({
      name: "gw-b",
      reason: expect.stringMatching(/extends.*clawguard\.role/),
    });
  });
});

describe("CLAWGUARD_WORKSPACE and CLAWGUARD_AGENT in each agent's environment (exec from any folder is guarded and attributed)", () => {
  const WS = "/home/node/.openclaw/workspace";
  const INBOX = "/var/spool/clawguard/inbox";
  const text = `x-agent: &agent
  image: ghcr.io/openclaw/openclaw:latest
  environment: &agent-env
    TZ: UTC
x-plain: &plain
  image: ghcr.io/openclaw/openclaw:latest
  environment:
    TZ: UTC
services:
  own-map:
    image: ghcr.io/openclaw/openclaw:latest
    environment:
      TZ: "UTC"   # a comment kept
    volumes:
      - ./a:/home/node/.openclaw
  own-list:
    image: ghcr.io/openclaw/openclaw:latest
    environment:
      - TZ=UTC
    volumes:
      - ./b:/home/node/.openclaw
  none:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
    - ./c:/home/node/.openclaw
  inherited:
    <<: *agent
    volumes:
      - ./d:/home/node/.openclaw
  merged:
    <<: *agent
    environment:
      <<: *agent-env
      ID: merged
    volumes:
      - ./e:/home/node/.openclaw
  empty:
    image: ghcr.io/openclaw/openclaw:latest
    environment:
    volumes:
      - ./f:/home/node/.openclaw
  custom:
    image: ghcr.io/openclaw/openclaw:latest
    environment:
      CLAWGUARD_WORKSPACE: /srv/ws
    volumes:
      - ./g:/home/node/.openclaw
  flow:
    image: ghcr.io/openclaw/openclaw:latest
    environment: { TZ: UTC }
    volumes:
      - ./h:/home/node/.openclaw
  no-anchor:
    <<: *plain
    volumes:
      - ./i:/home/node/.openclaw
`;
  it("is added to the agent's own map or list, or as a new key merging what it inherits; --remove gives the bytes back", () => {
    const r = inject(text);
    const s = js(roundTrip(text)).services;
    for (const name of ["own-map", "none", "inherited", "merged", "empty"]) {
      expect(s[name].environment.CLAWGUARD_WORKSPACE, name).toBe(WS);
      expect(s[name].environment.CLAWGUARD_AGENT, name).toBe(name);
    }
    expect(s["own-list"].environment).toEqual([
      "TZ=UTC",
      `CLAWGUARD_WORKSPACE=${WS}`,
      "CLAWGUARD_AGENT=own-list",
      `CLAWGUARD_INBOX_DIR=${INBOX}`,
    ]);
    // What the agent had stays: an inherited environment is merged through its anchor, not replaced.
    expect(s.inherited.environment).toEqual({
      TZ: "UTC",
      CLAWGUARD_WORKSPACE: WS,
      CLAWGUARD_AGENT: "inherited",
      CLAWGUARD_INBOX_DIR: INBOX,
    });
    expect(s.merged.environment).toEqual({
      TZ: "UTC",
      ID: "merged",
      CLAWGUARD_WORKSPACE: WS,
      CLAWGUARD_AGENT: "merged",
      CLAWGUARD_INBOX_DIR: INBOX,
    });
    expect(s["own-map"].environment.TZ).toBe("UTC");
    expect(r.text).toContain(
      `      TZ: "UTC"   # a comment kept\n      CLAWGUARD_WORKSPACE: ${WS} # clawguard-inject\n      CLAWGUARD_AGENT: own-map # clawguard-inject\n      CLAWGUARD_INBOX_DIR: ${INBOX} # clawguard-inject\n`,
    );
    // Left as it is, with the reason in the report: set by the user, or no line inject can add.
    expect(s.custom.environment).toEqual({
      CLAWGUARD_WORKSPACE: "/srv/ws",
      CLAWGUARD_AGENT: "custom",
      CLAWGUARD_INBOX_DIR: INBOX,
    });
    expect(s.flow.environment).toEqual({ TZ: "UTC" });
    expect(s["no-anchor"].environment).toEqual({ TZ: "UTC" });
    const notes = Object.fromEntries(r.agents.map((a) => [a.service, a.notes.at(-1)]));
    expect(notes.none).toBe(
      `sets CLAWGUARD_WORKSPACE=${WS}, CLAWGUARD_AGENT=none, CLAWGUARD_INBOX_DIR=${INBOX} (clawguard exec from any folder is guarded and attributed)`,
    );
    expect(notes.custom).toBe(
      `sets CLAWGUARD_AGENT=custom, CLAWGUARD_INBOX_DIR=${INBOX} (clawguard exec from any folder is guarded and attributed); keeps its own CLAWGUARD_WORKSPACE=/srv/ws (the workspace is ${WS})`,
    );
    expect(notes.flow).toMatch(
      /its environment is a flow collection: add CLAWGUARD_WORKSPACE=\S+, CLAWGUARD_AGENT=flow, CLAWGUARD_INBOX_DIR=\S+ to it, or clawguard exec leaves its events where the sidecar does not read them/,
    );
    expect(notes["no-anchor"]).toMatch(/comes through << without an anchor: add CLAWGUARD_WORKSPACE/);
  });

  it("is the workspace's container path: inside the state when the agent has no workspace mount", () => {
    const inside = `services:
  bot:
    image: moltbot/moltbot:2
    volumes:
      - bot-state:/data/.openclaw
volumes:
  bot-state:
`;
    expect(js(roundTrip(inside)).services.bot.environment).toEqual({
      CLAWGUARD_WORKSPACE: "/data/.openclaw/workspace",
      CLAWGUARD_AGENT: "bot",
      CLAWGUARD_INBOX_DIR: INBOX,
    });
  });

  it("the standby has it too, and CRLF files get CRLF lines", () => {
    const crlf = `services:\r\n  gateway:\r\n    image: ghcr.io/openclaw/openclaw:latest\r\n    ports:\r\n      - "18789:18789"\r\n    environment:\r\n      - TZ=UTC\r\n    labels:\r\n      clawguard.ha: standby\r\n    volumes:\r\n      - ./state:/home/node/.openclaw\r\n`;
    const out = roundTrip(crlf);
    expect(out.split("\n").every((l, i, all) => i === all.length - 1 || l.endsWith("\r"))).toBe(true);
    const s = js(out).services;
    expect(s.gateway.environment).toEqual([
      "TZ=UTC",
      `CLAWGUARD_WORKSPACE=${WS}`,
      "CLAWGUARD_AGENT=gateway",
      `CLAWGUARD_INBOX_DIR=${INBOX}`,
    ]);
    // The standby's own name: its sidecar is gateway-standby's.
    expect(s["gateway-standby"].environment).toEqual([
      "TZ=UTC",
      `CLAWGUARD_WORKSPACE=${WS}`,
      "CLAWGUARD_AGENT=gateway-standby",
      `CLAWGUARD_INBOX_DIR=${INBOX}`,
    ]);
  });
});

describe("two agents on one state directory", () => {
  it("are warned about (OpenClaw's lock: the second exits 78); a shared workspace is not", () => {
    const text = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    labels:
      clawguard.ha: standby
    volumes:
      - ./state:/home/node/.openclaw
      - shared-ws:/home/node/.openclaw/workspace
  worker:
    image: ghcr.io/openclaw/openclaw:latest
    command: ["openclaw", "gateway", "run", "--port", "18800"]
    volumes:
      - ./state/:/home/node/.openclaw
      - shared-ws:/home/node/.openclaw/workspace
  sub1:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - sub-state:/home/node/.openclaw
      - shared-ws:/home/node/.openclaw/workspace
  sub2:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - type: volume
        source: sub-state
        target: /home/node/.openclaw
      - shared-ws:/home/node/.openclaw/workspace
  sub3:
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - sub3-state:/home/node/.openclaw
      - shared-ws:/home/node/.openclaw/workspace
volumes:
  shared-ws:
  sub-state:
  sub3-state:
`;
    const r = inject(text);
    expect(r.warnings).toEqual([
      "services.gateway, services.worker: all mount ./state as their state directory (/home/node/.openclaw); OpenClaw locks its state directory, so only one of them runs and the others exit 78: give each agent a state of its own (a shared workspace is fine)",
      "services.sub1, services.sub2: all mount sub-state as their state directory (/home/node/.openclaw); OpenClaw locks its state directory, so only one of them runs and the others exit 78: give each agent a state of its own (a shared workspace is fine)",
    ]);
    // The seed: seven sub-agents on one workspace, each its own state; its HA gateway's standby
    // shares the gateway's state by design (never started beside it). No warning.
    expect(inject(read("../../examples/seed/compose.yml")).warnings).toEqual([]);
  });
});

describe("a state split into mounts (openclaw/openclaw's deploy/docker-compose.yml)", () => {
  // Its layout: openclaw.json, cron/, state/ and whatsapp/ each mounted inside /root/.openclaw.
  const text = `services:
  openclaw:
    build:
      context: ..
    labels:
      clawguard.role: gateway
    volumes:
      - ./openclaw.json:/root/.openclaw/openclaw.json:ro
      - ./cron:/root/.openclaw/cron
      - openclaw_state:/root/.openclaw/state
      - openclaw_wa:/root/.openclaw/whatsapp
    expose:
      - "7080"
volumes:
  openclaw_state: {}
  openclaw_wa: {}
`;
  it("is refused with exit 2 naming the layout and the one mount to add; with it, injects", async () => {
    const file = join(tmp, "split.yml");
    writeFileSync(file, text);
    const r = await runCommand(injectCommand, [file, "-o", join(tmp, "split.out.yml")], { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `clawguard inject: ${file}: services.openclaw.volumes: its OpenClaw state is split into mounts inside /root/.openclaw (openclaw.json, cron, state, whatsapp), and its workspace, OpenClaw's default /root/.openclaw/workspace, is on none of them: it is in the container's own filesystem, which the sidecar cannot share. Mount a volume there ("- openclaw-workspace:/root/.openclaw/workspace", and openclaw-workspace under the top-level volumes), or set the label clawguard.workspace to a mounted folder OpenClaw uses as its workspace\n`,
    );
    expect(existsSync(join(tmp, "split.out.yml"))).toBe(false);
    // The advice followed, word for word.
    const fixed = text
      .replace(
        "      - openclaw_wa:/root/.openclaw/whatsapp\n",
        "$&      - openclaw-workspace:/root/.openclaw/workspace\n",
      )
      .replace("  openclaw_wa: {}\n", "$&  openclaw-workspace: {}\n");
    const s = js(roundTrip(fixed)).services;
    expect(s["openclaw-clawguard"].volumes[0]).toBe("openclaw-workspace:/root/.openclaw/workspace");
    expect(s.openclaw.environment).toEqual({
      CLAWGUARD_WORKSPACE: "/root/.openclaw/workspace",
      CLAWGUARD_AGENT: "openclaw",
      CLAWGUARD_INBOX_DIR: "/var/spool/clawguard/inbox",
    });
  });
});

describe("several YAML documents", () => {
  it("are refused with exit 2, saying what to do (Compose 2.26 merges them), nothing written", async () => {
    const file = join(tmp, "docs.yml");
    writeFileSync(
      file,
      "services:\n  gateway:\n    image: ghcr.io/openclaw/openclaw:latest\n    volumes:\n      - ./s:/home/node/.openclaw\n---\nservices: {}\n",
    );
    const r = await runCommand(injectCommand, [file, "-o", join(tmp, "docs.out.yml")], { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `clawguard inject: ${file}: expected one YAML document, found several (---): Compose merges them, clawguard inject does not; make them one document\n`,
    );
    expect(existsSync(join(tmp, "docs.out.yml"))).toBe(false);
  });
});
