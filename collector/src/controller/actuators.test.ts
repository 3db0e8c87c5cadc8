import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { actuatorProblems, controllerConfig, leaseProblems, restartProblems } from "./config.ts";
import { commandActuator, webhookActuator } from "./index.ts";
import { placeholders } from "./templates.ts";

// The docker actuator's own tests, against a stand-in Engine: docker-actuator.test.ts.

describe("actuators", () => {
  it("command: fills in {agent}, {target}, {port}, {token}; a non-zero exit fails with the output", async () => {
    const actuator = commandActuator(
      {
        start: ["sh", "-c", "test '{agent}:{port}:{target}:{token}' = 'gw:18789:http://gw:18789:42'"],
        stop: ["sh", "-c", "echo no such container >&2; exit 3"],
      },
      5000,
    );
    await actuator.start("gw", "http://gw:18789", 42);
    await expect(actuator.start("gw", "http://gw:18789", 41)).rejects.toThrow(/exited 1/);
    await expect(actuator.stop("gw", "http://gw:18789", 42)).rejects.toThrow(/exited 3: no such container/);
  });

  it("webhook: posts the action with the fencing token and its bearer token; anything but 2xx fails the step", async () => {
    const calls: { auth: string | undefined; body: unknown }[] = [];
    let status = 200;
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => (text += c));
      req.on("end", () => {
        calls.push({ auth: req.headers.authorization, body: JSON.parse(text) });
        res.writeHead(status).end(status === 200 ? "ok" : "orchestrator says no");
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/failover`;
    try {
      const actuator = webhookActuator(url, "hook-token", 5000);
      await actuator.restart("gw", "http://gw:18789", 7);
      expect(calls[0]).toEqual({
        auth: "Bearer hook-token",
        body: { action: "restart", agent: "gw", target: "http://gw:18789", token: 7 },
      });
      status = 503;
      await expect(actuator.start("gw-standby", "http://gw-standby:18789", 7)).rejects.toThrow(
        /webhook answered HTTP 503: orchestrator says no/,
      );
    } finally {
      server.close();
    }
  });
});

describe("actuator config", () => {
  const parse = (actuator: unknown) => controllerConfig.parse({ actuator }).actuator;

  it("docker needs container or compose; its defaults are the Engine's usual socket and the sidecar's suffix inject writes", () => {
    const named = parse({ kind: "docker", container: "{agent}" });
    expect(named).toMatchObject({
      socket: "/var/run/docker.sock",
      container: "{agent}",
      stopTimeoutSeconds: 10,
      timeoutMs: 60_000,
    });
    expect(actuatorProblems(named)).toEqual([]);
    const compose = parse({ kind: "docker", compose: { project: "openclaw" } });
    expect(compose.compose).toEqual({ project: "openclaw", sidecarSuffix: "-clawguard" });
    expect(compose.container).toBeUndefined();
    expect(actuatorProblems(compose)).toEqual([]);
    expect(actuatorProblems(parse({ kind: "webhook", url: "https://ops.example/failover" }))).toEqual([]);
    expect(actuatorProblems(parse({ start: ["docker", "start", "{agent}"], stop: ["true"] }))).toEqual([]);
  });

  it("docker: refuses neither or both of container and compose, compose for another kind, and a project Compose would not name", () => {
    expect(actuatorProblems(parse({ kind: "docker" }))).toEqual([
      "controller.actuator: kind docker needs container or compose: container names each agent's one container by a template (e.g. \"{agent}\"); compose: {project} finds each agent's Compose service and its sidecar by their labels",
    ]);
    expect(
      actuatorProblems(parse({ kind: "docker", container: "{agent}", compose: { project: "openclaw" } })),
    ).toEqual([
      "controller.actuator: container and compose are both set: expected one (container names each agent's one container; compose finds each agent's Compose service and its sidecar)",
    ]);
    expect(
      actuatorProblems(parse({ kind: "webhook", url: "https://ops.example/x", compose: { project: "p" } })),
    ).toEqual(["controller.actuator.compose: only used by kind docker, but kind is webhook"]);
    const bad = controllerConfig.safeParse({
      actuator: { kind: "docker", compose: { project: "OpenClaw", sidecarSuffix: "", extra: 1 } },
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
      "actuator.compose.project: expected the Compose project's name (lowercase letters, digits, - and _, starting with a letter or digit): `name:` in the compose file, or what `docker compose ls` shows",
      "actuator.compose.sidecarSuffix: expected 1-63 chars of [A-Za-z0-9_.-]",
      'actuator.compose: Unrecognized key: "extra"',
    ]);
    // compose without a project is refused by the schema too: it is what keeps the actuator to one deployment.
    expect(controllerConfig.safeParse({ actuator: { kind: "docker", compose: {} } }).success).toBe(false);
  });

  it("lists every problem: what a kind needs, fields only another kind reads, docker's placeholders and timeout", () => {
    expect(actuatorProblems(parse({}))).toEqual([
      "controller.actuator.start: required for kind command (an argv template)",
      "controller.actuator.stop: required for kind command (an argv template)",
    ]);
    expect(actuatorProblems(parse({ kind: "webhook", socket: "/run/docker.sock" }))).toEqual([
      "controller.actuator.url: required for kind webhook (where actions are POSTed)",
      "controller.actuator.socket: only used by kind docker, but kind is webhook",
    ]);
    expect(
      actuatorProblems(
        parse({
          kind: "docker",
          container: "{agent}-{token}",
          stopTimeoutSeconds: 30,
          timeoutMs: 30_000,
          start: ["docker", "start", "{agent}"],
          url: "https://ops.example/failover",
        }),
      ),
    ).toEqual([
      "controller.actuator.container: unknown placeholder {token}: expected {agent}, {target} or {port}",
      "controller.actuator.timeoutMs: expected more than stopTimeoutSeconds (30 s = 30000 ms), got 30000: the Engine takes up to that long to stop a container",
      "controller.actuator.start: only used by kind command, but kind is docker",
      "controller.actuator.url: only used by kind webhook, but kind is docker",
    ]);
  });
});

describe("restart config (agents with no standby)", () => {
  const parse = (config: unknown) => controllerConfig.parse(config);
  const groups = [
    { name: "gw", primary: "gw", standby: "gw-b", targets: { gw: "http://gw:1", "gw-b": "http://gw-b:1" } },
  ];
  const command = (restart?: string[]) => ({
    start: ["docker", "start", "{agent}"],
    stop: ["docker", "stop", "{agent}"],
    ...(restart ? { restart } : {}),
  });

  it("defaults to nobody, and takes agents by name and by role, with targets for those that have one", () => {
    expect(parse({}).restart).toEqual({ agents: [], roles: [], targets: {} });
    const c = parse({
      actuator: command(["sh", "-c", "curl {target}/restart"]),
      restart: { agents: ["sub1"], targets: { sub1: "http://sub1:18789" } },
    });
    expect(restartProblems(c)).toEqual([]);
    expect(restartProblems(parse({ actuator: command(), restart: { roles: ["sub-agent", "bot"] } }))).toEqual(
      [],
    );
    expect(controllerConfig.safeParse({ restart: { targets: { a: "nope" } } }).success).toBe(false);
  });

  it("refuses a template with {target} or {port} for an agent that may have no target, and a group's agent", () => {
    expect(
      restartProblems(
        parse({
          groups,
          actuator: command(["docker", "restart", "agent-{port}"]),
          restart: { agents: ["gw", "sub1", "sub2"], targets: { sub2: "http://sub2:1" } },
        }),
      ),
    ).toEqual([
      "controller.restart.agents: gw is in gateway group gw, which restarts it and fails it over: expected only agents with no standby",
      "controller.actuator.restart: uses {target} or {port} to restart agents in place, but gw, sub1 (controller.restart.agents) have no target in controller.restart.targets: use {agent} only, or name every such agent in controller.restart.agents with a target",
    ]);
    // Without a restart template, stop then start are what a restart runs.
    expect(
      restartProblems(
        parse({ actuator: { ...command(), start: ["run", "{target}"] }, restart: { roles: ["bot"] } }),
      ),
    ).toEqual([
      "controller.actuator.start: uses {target} or {port} to restart agents in place, but agents found by controller.restart.roles may have none: use {agent} only (or set controller.actuator.restart), or name every such agent in controller.restart.agents with a target",
    ]);
    expect(
      restartProblems(
        parse({ actuator: { kind: "docker", container: "{agent}-{port}" }, restart: { agents: ["s"] } }),
      ),
    ).toHaveLength(1);
    // A webhook is sent target null; a group's templates are not a restart's concern when nobody is restarted.
    expect(
      restartProblems(
        parse({ actuator: { kind: "webhook", url: "https://ops.example/x" }, restart: { agents: ["s"] } }),
      ),
    ).toEqual([]);
    expect(restartProblems(parse({ groups, actuator: command(["restart", "{port}"]) }))).toEqual([]);
  });

  it("fills {target} and {port} with nothing for an agent without a target", async () => {
    expect(placeholders("sub1", undefined)).toEqual({ agent: "sub1", target: "", port: "" });
    expect(placeholders("gw", "http://gw:18789")).toEqual({
      agent: "gw",
      target: "http://gw:18789",
      port: "18789",
    });
  });

  it("refuses a tick longer than half the lease: the lease is renewed every tick", () => {
    expect(leaseProblems(controllerConfig.parse({}))).toEqual([]);
    expect(leaseProblems(controllerConfig.parse({ tickMs: 3000, leaseTtlMs: 5000 }))).toEqual([
      "controller.tickMs: 3000 ms, expected at most half of controller.leaseTtlMs (5000 ms): the lease is renewed every tick",
    ]);
  });
});
