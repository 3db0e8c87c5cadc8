import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { injectCommand } from "../../deploy/src/inject/command.ts";
import {
  buildImages,
  buildStandIns,
  docker,
  type Engine,
  engineUnavailable,
  IMAGES,
  REPO,
  startEngine,
} from "../support/docker.ts";

/**
 * The deployment `clawguard inject` writes, on a real Docker Engine (test/support/docker-engine.sh:
 * Debian 13's Engine 26 in a network namespace of its own): the sidecar and collector images built
 * from deploy/docker on a local base, and the seed's own compose file (deploy/examples/seed: an HA
 * gateway, seven sub-agents on one shared workspace volume, three bots, the app's PostgreSQL and
 * Redis, which the collector reuses) run on stand-in images tagged with the seed's image names.
 * Injected and brought up with `docker compose up --wait`; an exec in every agent's container
 * reaches the collector (all at once); every agent is healthy in `clawguard fleet` (its sidecar's
 * probe of /readyz, which inject configured); `docker compose down` and `up` again lose and double
 * no event and the trail verifies; the gateway's sidecar killed, the controller restarts the sidecar
 * and leaves the healthy gateway alone; the gateway killed, the controller (docker actuator, compose
 * mode) restarts it in place, and once its budget is spent fences it and starts the standby, which
 * the router then serves on both of the gateway's ports; `inject --remove` gives the file back byte for byte and the project comes up as before.
 * Figures are printed as it goes.
 *
 * Runs with CLAWGUARD_DOCKER=1 or CI=true; there, a machine that cannot run the engine (not root, no
 * apt-get or unshare) fails, saying why. Elsewhere skipped (CLAWGUARD_DOCKER=0 skips it under CI too).
 */
const why = engineUnavailable();
const wanted =
  process.env.CLAWGUARD_DOCKER === "1" || (process.env.CI === "true" && process.env.CLAWGUARD_DOCKER !== "0");

describe.runIf(wanted && why !== undefined)("a real Docker Engine (CLAWGUARD_DOCKER=1 or CI=true)", () => {
  it("can run on this machine", () => {
    throw new Error(`test/docker/deployment.test.ts needs a machine that can run the engine: ${why}`);
  });
});
const PROJECT = "clawguard-e2e";
const dir = mkdtempSync(join(tmpdir(), "clawguard-e2e-"));
const figures: [string, number][] = [];
const t0 = performance.now();
let last = t0;
/** Records how long the step that ends now took. */
const lap = (what: string) => {
  const now = performance.now();
  figures.push([what, Math.round(now - last)]);
  console.log(`[docker e2e] ${what}: ${((now - last) / 1000).toFixed(1)} s`);
  last = now;
};

const SUBS = [1, 2, 3, 4, 5, 6, 7].map((i) => `sub${i}`);
const BOTS = ["bot-supporter", "bot-secguard", "bot-opsguard"];
const AGENTS = ["gateway", ...SUBS, ...BOTS];
/** The seed's images, as the stand-ins are tagged here (nothing is pulled). */
const SEED_IMAGES: Record<string, string> = {
  "ghcr.io/openclaw/openclaw:latest": IMAGES.agent,
  "postgres:16": IMAGES.postgres,
  "redis:7": IMAGES.redis,
};
/** The collector's role and database on the app's PostgreSQL, as inject's report says to make them. */
const DB_PASSWORD = randomBytes(16).toString("hex");

/**
 * The seed's file with two changes a real one has: the gateway publishes OpenClaw's bridge (18790)
 * too, as OpenClaw's own compose file does, and one bot keeps only its state (its workspace is
 * OpenClaw's default <state>/workspace, as with the old ~/.openclaw-bots/).
 */
function seedFile(): string {
  const seed = readFileSync(join(REPO, "deploy/examples/seed/compose.yml"), "utf8");
  const text = seed
    .replace(
      '      - "18789:18789"   # Control UI, /v1/chat/completions, channel webhooks\n',
      '      - "18789:18789"   # Control UI, /v1/chat/completions, channel webhooks\n      - "18790:18790"   # bridge\n',
    )
    .replace("      - bot-opsguard-workspace:/home/node/.openclaw/workspace\n", "");
  expect(text.length).toBe(seed.length + 33 - 62);
  return text;
}

let engine: Engine;
let original = "";
const env = () => ({
  ...engine.env,
  DOCKER_BUILDKIT: "0",
  COMPOSE_PROJECT_NAME: PROJECT,
  DOCKER_GID: "0",
});
/** `docker compose` on the project: the injected file with the override, or the file alone. */
const compose = (args: string[], timeout = 300_000, files = ["compose.yml", "override.yml"]) =>
  docker(engine, ["compose", "-p", PROJECT, ...files.flatMap((f) => ["-f", join(dir, f)]), ...args], {
    cwd: dir,
    timeout,
    env: env(),
  });
/** `docker compose up -d --wait`; on a failure, the logs of what is not healthy. */
function upWait(files?: string[]): void {
  try {
    compose(["up", "-d", "--wait"], 600_000, files);
  } catch (err) {
    const ps = compose(["ps", "-a", "--format", "{{.Service}} {{.State}} {{.Health}}"], 60_000, files);
    const bad = ps
      .split("\n")
      .filter((l) => l && !/ running (healthy)?$/.test(l))
      .map((l) => l.split(" ")[0] as string);
    const logs = bad.length > 0 ? compose(["logs", "--tail", "40", ...bad], 60_000, files) : "";
    throw new Error(`${(err as Error).message}\n${ps}\n${logs}`);
  }
}

/** The same, not waiting: many at once; what it printed on stdout and stderr. */
function composeAsync(args: string[]): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "docker",
      ["compose", "-p", PROJECT, "-f", join(dir, "compose.yml"), "-f", join(dir, "override.yml"), ...args],
      { cwd: dir, env: env(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ out, err });
      else reject(new Error(`docker compose ${args.join(" ")}: exit ${code}\n${err}${out}`));
    });
  });
}
const containerOf = (service: string, files?: string[]) =>
  compose(["ps", "-aq", service], 60_000, files).trim();
const inspect = (name: string, format: string) => docker(engine, ["inspect", "-f", format, name]).trim();
/** A command in the collector's container (its clawguard finds the collector and read token there). */
const inCollector = (args: string[]) => compose(["exec", "-T", "clawguard-collector", ...args]);
/** SQL on the app's PostgreSQL, where the collector keeps the audit trail; rows, tab-separated. */
const sql = (query: string, db = "clawguard") =>
  compose(["exec", "-T", "openclaw-pg", "psql", "-U", "openclaw", "-d", db, "-Atc", query]);

/** Every container, volume and network of the project (what a run stopped halfway left, too). */
function removeProject(): void {
  const label = `label=com.docker.compose.project=${PROJECT}`;
  const left = docker(engine, ["ps", "-aq", "--filter", label]).split("\n").filter(Boolean);
  if (left.length > 0) docker(engine, ["rm", "-f", ...left]);
  const volumes = docker(engine, ["volume", "ls", "-q", "--filter", label]).split("\n").filter(Boolean);
  if (volumes.length > 0) docker(engine, ["volume", "rm", ...volumes]);
  const networks = docker(engine, ["network", "ls", "-q", "--filter", label]).split("\n").filter(Boolean);
  if (networks.length > 0) docker(engine, ["network", "rm", ...networks]);
}

/**
 * The secrets as inject's report says to make them: its first step run as printed (by root, as a
 * user pasting it would), the database password filled in where the report leaves it to the user.
 */
function runSecretsStep(report: string): void {
  const block = /Create the secrets[^\n]*\n((?: {3}.*\n)+)/.exec(report)?.[1];
  if (!block) throw new Error(`no secrets step in the report:\n${report}`);
  const script = block
    .split("\n")
    .map((line) => line.replace(/^ {3}/, ""))
    .join("\n")
    .replace('"<that password>"', `'${DB_PASSWORD}'`);
  execFileSync("sh", ["-ec", script], { cwd: dir });
}

/** Polls `check` every 200 ms until it returns a value. */
async function until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What the router in front of the gateway answers on `port`: the hostname of the one it serves. */
const routed = (port: number) =>
  JSON.parse(
    inCollector([
      "node",
      "-e",
      `fetch('http://gateway-router:${port}/').then(r=>r.text()).then(t=>console.log(t))`,
    ]),
  ) as { host: string; port: number };

/**
 * An exec in each agent's container at once, through the agent-side clawguard, from `cwd`; the
 * marker echoed, and no warning from it (a workspace not found, an agent unknown).
 */
async function execEverywhere(
  agents: readonly string[],
  tag: string,
  cwd = "/home/node/.openclaw/workspace",
): Promise<Map<string, string>> {
  const markers = new Map(agents.map((a) => [a, `${tag}-${a}-${randomBytes(4).toString("hex")}`]));
  const runs = await Promise.all(
    [...markers].map(([agent, marker]) =>
      composeAsync([
        "exec",
        "-T",
        "-w",
        cwd,
        agent,
        "/opt/clawguard/bin/clawguard",
        "exec",
        "--",
        "echo",
        marker,
      ]),
    ),
  );
  for (const [i, [agent, marker]] of [...markers].entries()) {
    expect(runs[i]?.out, agent).toContain(marker);
    expect(runs[i]?.err, agent).not.toContain("clawguard exec:");
  }
  return markers;
}

/**
 * How many exec.completed events of each agent hold its marker (`undefined` until all have one);
 * a marker found in another agent's events is a failure.
 */
function execsArrived(markers: Map<string, string>): Map<string, number> | undefined {
  const list = [...markers.values()].map((m) => `'${m}'`).join(", ");
  const rows = sql(
    `select m.marker, e.agent from unnest(array[${list}]) as m(marker) join audit_events e on e.type = 'exec.completed' and position(m.marker in e.body) > 0`,
  );
  const found = new Map<string, number>();
  for (const line of rows.split("\n").filter(Boolean)) {
    const [marker, agent] = line.split("|");
    expect(markers.get(agent ?? ""), `${marker} in the events of ${agent}`).toBe(marker);
    found.set(agent ?? "", (found.get(agent ?? "") ?? 0) + 1);
  }
  return [...markers.keys()].every((a) => found.has(a)) ? found : undefined;
}

/** The controller's actions recorded in an agent's incidents (every incident, oldest action first). */
function incidentActions(agent: string): string[] {
  const text = inCollector(["clawguard", "incidents", "--agent", agent, "--json"]);
  return [...text.matchAll(/"action":\s*"([a-z-]+)"/g)].map((m) => m[1] as string).reverse();
}

/** The state of every agent in `clawguard fleet`, once all are healthy. */
function allHealthy(): Record<string, string> | undefined {
  const { agents } = JSON.parse(inCollector(["clawguard", "fleet", "--json"])) as {
    agents: { agent: string; state: string; stale?: boolean }[];
  };
  const states = Object.fromEntries(agents.map((a) => [a.agent, a.stale ? "stale" : a.state]));
  return AGENTS.every((a) => states[a] === "healthy") ? states : undefined;
}

describe.skipIf(!wanted || why !== undefined)(
  "the seed's deployment, injected, on a real Docker Engine",
  () => {
    beforeAll(() => {
      engine = startEngine();
      lap("engine up (installed, base imported)");
      removeProject();
      buildImages(engine);
      lap("sidecar and collector images bundled and built (pnpm build:images)");
      buildStandIns(engine);
      for (const [name, image] of Object.entries(SEED_IMAGES)) docker(engine, ["tag", image, name]);
      lap("stand-in images built");
    }, 1_200_000);

    afterAll(() => {
      // CLAWGUARD_DOCKER_KEEP=1 leaves the project up to look at (docker compose -p clawguard-e2e ...).
      if (engine && process.env.CLAWGUARD_DOCKER_KEEP !== "1") {
        try {
          removeProject();
        } catch (err) {
          console.warn(`removing the project: ${(err as Error).message}`);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      console.log(`[docker e2e] figures (ms): ${JSON.stringify(Object.fromEntries(figures))}`);
      console.log(`[docker e2e] total: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });

    it("images: clawguard runs as inject writes it, non-root; sizes printed", () => {
      for (const image of [IMAGES.sidecar, IMAGES.collector]) {
        const help = docker(engine, ["run", "--rm", image, "clawguard", "--help"]);
        // Each image's clawguard has its package's commands only.
        expect(help).toMatch(image === IMAGES.sidecar ? /^ {2}sidecar /m : /^ {2}router /m);
        expect(help).not.toMatch(
          image === IMAGES.sidecar ? /^ {2}(collector|router|inject) /m : /^ {2}(sidecar|exec|inject) /m,
        );
        expect(docker(engine, ["run", "--rm", "--entrypoint", "id", image, "-u"]).trim()).not.toBe("0");
        const size = Number(inspect(image, "{{.Size}}"));
        const base = Number(inspect("clawguard-test/base:bookworm", "{{.Size}}"));
        console.log(
          `[docker e2e] ${image}: ${(size / 1e6).toFixed(1)} MB, ${((size - base) / 1e6).toFixed(1)} MB above the base (${(base / 1e6).toFixed(0)} MB)`,
        );
        // The house's target for the sidecar: its own layers <= 40 MB above the Node base.
        if (image === IMAGES.sidecar) expect(size - base).toBeLessThanOrEqual(40e6);
      }
    }, 120_000);

    it("injects the seed's file; Compose itself accepts the result; up --wait brings it all up healthy", async () => {
      original = seedFile();
      writeFileSync(join(dir, "compose.yml"), original);
      writeFileSync(join(dir, ".env"), `OPENCLAW_GATEWAY_TOKEN=${randomBytes(16).toString("hex")}\n`);
      mkdirSync(join(dir, "secrets"));
      writeFileSync(join(dir, "secrets/openclaw-pg-password"), randomBytes(16).toString("hex"));
      const r = await runCommand(
        injectCommand,
        [
          "compose.yml",
          "-o",
          "compose.yml",
          "--image",
          IMAGES.sidecar,
          "--collector-image",
          IMAGES.collector,
          // clawguard's own Redis, from the stand-in (nothing is pulled).
          "--redis-image",
          "redis:7",
        ],
        // This engine's docker CLI on PATH, as a user's: inject has Compose check what it wrote.
        { cwd: dir, env: engine.env },
      );
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/^checked by .*Compose 2\.\S+ \(docker compose config -q\)$/m);
      // The collector reuses the app's PostgreSQL (never its Redis), as the report says.
      expect(r.err).toContain("CREATE ROLE clawguard LOGIN PASSWORD");
      const tokens = [...r.err.matchAll(/for a in ([^;]+); do printf '%s %s/g)][0]?.[1]?.split(" ") ?? [];
      expect(tokens.sort()).toEqual([...AGENTS, "gateway-standby"].sort());
      runSecretsStep(r.err);
      // This engine's socket, not the host's /var/run/docker.sock: the one thing changed.
      writeFileSync(
        join(dir, "override.yml"),
        `services:\n  clawguard-collector:\n    volumes:\n      - ${engine.socket}:/var/run/docker.sock\n`,
      );
      compose(["config", "-q"]);
      lap("inject and docker compose config");
      // The collector's role and database on the app's PostgreSQL, once it is up.
      compose(["up", "-d", "openclaw-pg"]);
      await until(
        "the collector's role on openclaw-pg",
        () =>
          compose([
            "exec",
            "-T",
            "openclaw-pg",
            "psql",
            "-U",
            "openclaw",
            "-d",
            "openclaw",
            "-c",
            `CREATE ROLE clawguard LOGIN PASSWORD '${DB_PASSWORD}'`,
            "-c",
            "CREATE DATABASE clawguard OWNER clawguard",
          ]),
        60_000,
      );
      lap("the collector's role and database on the app's PostgreSQL");
      upWait();
      lap("docker compose up --wait (cold start to healthy)");
      // As inject's report says: the controller starts the standby, it does not create it.
      compose(["--profile", "clawguard-standby", "create", "gateway-standby", "gateway-standby-clawguard"]);
      const running = compose(["ps", "--format", "{{.Service}} {{.State}} {{.Health}}"]);
      console.log(running);
      for (const s of [
        ...AGENTS,
        "gateway-router",
        "clawguard-collector",
        "clawguard-redis",
        "openclaw-pg",
        "openclaw-redis",
      ])
        expect(running).toMatch(new RegExp(`^${s} running`, "m"));
      for (const s of AGENTS) expect(running).toMatch(new RegExp(`^${s}-clawguard running healthy`, "m"));
    }, 900_000);

    it("an exec in every agent's container, all at once, reaches the collector through its sidecar", async () => {
      const markers = await execEverywhere(AGENTS, "first");
      lap(`an exec in each of the ${AGENTS.length} agents (at once)`);
      const found = await until("every agent's exec in the collector", () => execsArrived(markers), 60_000);
      expect([...found.values()].every((n) => n === 1)).toBe(true);
      lap("every agent's exec event in the collector");
    }, 180_000);

    it("an exec from / (outside the workspace) is guarded and attributed: inject set CLAWGUARD_WORKSPACE and CLAWGUARD_AGENT", async () => {
      // The gateway inherits its environment through <<, sub3 has its own map, bot-opsguard's
      // workspace is inside its state: each gets the variable its own way.
      const agents = ["gateway", "sub3", "bot-opsguard"];
      for (const agent of agents)
        expect(
          compose(["exec", "-T", agent, "printenv", "CLAWGUARD_WORKSPACE", "CLAWGUARD_AGENT"]),
          agent,
        ).toBe(`/home/node/.openclaw/workspace\n${agent}\n`);
      const markers = await execEverywhere(agents, "from-root", "/");
      const found = await until("the execs from / in the collector", () => execsArrived(markers), 60_000);
      expect([...found.values()].every((n) => n === 1)).toBe(true);
      lap("an exec from / in 3 agents, in the collector");
    }, 180_000);

    it("an agent cannot reach clawguard's Redis (the leader lease, the routes); the collector and the router can", () => {
      // A TCP connect to clawguard-redis:6379: "ok", or the error (a name not resolved: ENOTFOUND/EAI_AGAIN).
      const connect = (service: string) =>
        compose([
          "exec",
          "-T",
          service,
          "node",
          "-e",
          "require('node:net').connect(6379,'clawguard-redis').on('connect',()=>{console.log('ok');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})",
        ]).trim();
      expect(connect("clawguard-collector")).toBe("ok");
      expect(connect("gateway-router")).toBe("ok");
      for (const agent of ["sub1", "gateway", "bot-supporter"])
        expect(connect(agent), agent).toMatch(/^E[A-Z_]+$/);
      // Nor from a sidecar (the agent's network namespace).
      expect(connect("sub1-clawguard")).toMatch(/^E[A-Z_]+$/);
    }, 120_000);

    it("an exec in sub1 in the gateway's name is not sealed as the gateway's (each inbox is on its agent's own volume)", async () => {
      const tag = randomBytes(4).toString("hex");
      const forged = [`forged-env-${tag}`, `forged-dir-${tag}`];
      const quarantinedBefore = Number(
        sql("select count(*) from audit_events where agent = 'sub1' and type = 'spool.quarantined'"),
      );
      const gatewayInbox = "/home/node/.openclaw/workspace/.clawguard/agents/gateway/inbox";
      // CLAWGUARD_AGENT=gateway: the drafts go to sub1's own inbox, whose sidecar sets them aside.
      // And the shared workspace's gateway inbox named outright: no sidecar reads that any more.
      for (const [marker, extra] of [
        [forged[0], ["-e", "CLAWGUARD_AGENT=gateway"]],
        [forged[1], ["-e", "CLAWGUARD_AGENT=gateway", "-e", `CLAWGUARD_INBOX_DIR=${gatewayInbox}`]],
      ] as const) {
        const run = await composeAsync([
          "exec",
          "-T",
          ...extra,
          "-w",
          "/home/node/.openclaw/workspace",
          "sub1",
          "/opt/clawguard/bin/clawguard",
          "exec",
          "--",
          "echo",
          marker as string,
        ]);
        expect(run.out).toContain(marker);
      }
      expect(compose(["exec", "-T", "sub1", "ls", gatewayInbox]).trim()).not.toBe("");
      // sub1's sidecar read its inbox: the forged drafts set aside, under sub1.
      await until(
        "sub1's sidecar sets the forged drafts aside",
        () =>
          Number(
            sql("select count(*) from audit_events where agent = 'sub1' and type = 'spool.quarantined'"),
          ) >=
          quarantinedBefore + 2
            ? true
            : undefined,
        60_000,
      );
      // The gateway's sidecar drains after them: its own exec arrives, the forged ones never do.
      const own = await execEverywhere(["gateway"], "after-forgery");
      await until("the gateway's own exec in the collector", () => execsArrived(own), 60_000);
      for (const marker of forged)
        expect(sql(`select agent, type from audit_events where position('${marker}' in body) > 0`)).toBe("");
    }, 180_000);

    it("clawguard fleet shows every agent healthy (its sidecar's probe of /readyz), the router serves both ports", async () => {
      const states = await until("every agent healthy in clawguard fleet", allHealthy, 120_000);
      console.log(states);
      lap("every agent healthy in clawguard fleet");
      const gateway = inspect(containerOf("gateway"), "{{.Config.Hostname}}");
      expect(routed(18789)).toMatchObject({ host: gateway, port: 18789 });
      expect(routed(18790)).toMatchObject({ host: gateway, port: 18790 });
    }, 180_000);

    it("docker compose down and up again: nothing lost or doubled, the trail verifies", async () => {
      const before = new Set(sql("select id from audit_events").split("\n").filter(Boolean));
      // One exec just before the stop: its events may still be in the sidecar's spool.
      const marker = await execEverywhere(["sub1"], "before-down");
      last = performance.now();
      compose(["--profile", "clawguard-standby", "down"]);
      lap("docker compose down");
      upWait();
      lap("docker compose up --wait again (warm: volumes kept)");
      compose(["--profile", "clawguard-standby", "create", "gateway-standby", "gateway-standby-clawguard"]);
      const found = await until(
        "the exec before the stop in the collector",
        () => execsArrived(marker),
        60_000,
      );
      expect(found.get("sub1")).toBe(1);
      const after = sql("select id from audit_events").split("\n").filter(Boolean);
      expect(new Set(after).size).toBe(after.length);
      expect([...before].filter((id) => !after.includes(id))).toEqual([]);
      // No event twice under two ids: one exec.completed per command run, whatever was sent again.
      const doubled = sql(
        "select agent, body::json->'attrs'->>'command', count(*) from audit_events where type = 'exec.completed' group by 1, 2 having count(*) > 1",
      );
      expect(doubled).toBe("");
      // Exit 1 (and so a throw here) when any chain is broken.
      const verify = inCollector(["clawguard", "audit", "verify"]);
      console.log(verify);
      for (const agent of AGENTS) expect(verify).toMatch(new RegExp(`^ok +${agent} `, "m"));
      expect(verify).not.toContain("BROKEN");
      console.log(`[docker e2e] events: ${before.size} before the stop, ${after.length} after the start`);
      lap("trail checked after down/up");
      await until("every agent healthy again", allHealthy, 120_000);
    }, 900_000);

    it("the gateway's sidecar killed, the gateway healthy: the sidecar is restarted, the gateway neither fenced nor rerouted", async () => {
      const first = routed(18789).host;
      const gatewayStarted = inspect(containerOf("gateway"), "{{.State.StartedAt}}");
      const sidecar = containerOf("gateway-clawguard");
      last = performance.now();
      docker(engine, ["kill", sidecar]);
      await until(
        "the controller restarts the sidecar",
        () => (incidentActions("gateway").includes("sidecar-restart") ? true : undefined),
        120_000,
      );
      lap("sidecar killed -> sidecar restarted by the controller");
      await until("every agent healthy again", allHealthy, 120_000);
      lap("sidecar restarted -> gateway healthy in the fleet again");
      expect(inspect(sidecar, "{{.State.Running}}")).toBe("true");
      expect(inspect(containerOf("gateway"), "{{.State.StartedAt}}")).toBe(gatewayStarted);
      expect(routed(18789).host).toBe(first);
      const actions = incidentActions("gateway");
      expect(actions).not.toContain("fence");
      expect(actions).not.toContain("restart");
      expect(inspect(containerOf("gateway-standby"), "{{.State.Running}}")).toBe("false");
    }, 300_000);

    it("the gateway killed: restarted in place until the budget (3) is spent, then fenced, the standby serves behind the router, on both ports", async () => {
      const first = routed(18789).host;
      expect(first).toBe(inspect(containerOf("gateway"), "{{.Config.Hostname}}"));
      for (let restart = 1; restart <= 3; restart++) {
        const started = inspect(containerOf("gateway"), "{{.State.StartedAt}}");
        last = performance.now();
        docker(engine, ["kill", containerOf("gateway")]);
        await until(
          `restart ${restart} of the gateway`,
          () =>
            inspect(containerOf("gateway"), "{{.State.StartedAt}}") !== started &&
            incidentActions("gateway").filter((a) => a === "restart").length >= restart
              ? true
              : undefined,
          120_000,
        );
        lap(`gateway killed -> restarted in place (${restart} of 3)`);
        // Still the same route: the restarted gateway answers behind it again.
        await until(
          "the gateway answers behind the router",
          () => (routed(18789).host === first ? true : undefined),
          60_000,
        );
      }
      last = performance.now();
      docker(engine, ["kill", containerOf("gateway")]);
      const standby = await until(
        "the standby serves behind the router",
        () => {
          const host = routed(18789).host;
          return host !== first ? host : undefined;
        },
        180_000,
      );
      lap("gateway killed, budget spent -> fenced, standby started, router serving it");
      expect(standby).toBe(inspect(containerOf("gateway-standby"), "{{.Config.Hostname}}"));
      expect(routed(18790)).toMatchObject({ host: standby, port: 18790 });
      expect(inspect(containerOf("gateway"), "{{.State.Running}}")).toBe("false");
      expect(inspect(containerOf("gateway-standby-clawguard"), "{{.State.Running}}")).toBe("true");
      const actions = incidentActions("gateway");
      expect(actions.filter((a) => a === "restart")).toHaveLength(3);
      expect(actions).toContain("fence");
      console.log(inCollector(["clawguard", "incidents"]));
    }, 600_000);

    it("inject --remove gives the file back byte for byte; the project comes up as before", async () => {
      compose(["--profile", "clawguard-standby", "down"]);
      const r = await runCommand(injectCommand, ["compose.yml", "--remove", "-o", "compose.yml"], {
        cwd: dir,
        env: process.env,
      });
      expect(r.code, r.err).toBe(0);
      expect(readFileSync(join(dir, "compose.yml"), "utf8")).toBe(original);
      last = performance.now();
      upWait(["compose.yml"]);
      lap("docker compose up --wait of the file as it was");
      const running = compose(["ps", "--format", "{{.Service}} {{.State}}"], 60_000, ["compose.yml"]);
      const services = running.split("\n").filter(Boolean).sort();
      expect(services).toEqual(
        [...AGENTS, "openclaw-pg", "openclaw-redis"].map((s) => `${s} running`).sort(),
      );
      const answer = compose(
        [
          "exec",
          "-T",
          "gateway",
          "node",
          "-e",
          "fetch('http://127.0.0.1:18789/').then(r=>r.text()).then(t=>console.log(t))",
        ],
        60_000,
        ["compose.yml"],
      );
      expect(JSON.parse(answer).host).toBe(
        inspect(containerOf("gateway", ["compose.yml"]), "{{.Config.Hostname}}"),
      );
    }, 600_000);
  },
);
