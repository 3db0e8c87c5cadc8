import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { DOCKER_API_VERSION, dockerActuator } from "./actuators.ts";
import { actuatorProblems, controllerConfig } from "./config.ts";
import { commandActuator, webhookActuator } from "./index.ts";

const dir = tempDir("clawguard-actuators-");
afterAll(() => dir.cleanup());

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

/**
 * A stand-in for the Docker Engine API on a unix socket, answering as the real one does: 204 when
 * done, 304 when the container is already in that state, 404 `{"message":"No such container: x"}`,
 * 409 and 500 with the Engine's JSON message, and `page not found` for any other path.
 */
class StandInEngine {
  readonly socket: string;
  readonly requests: string[] = [];
  /** Container name to whether it runs; "removing" answers 409, "broken" 500, "stuck" never stops, "hangs" never answers. */
  readonly containers = new Map<string, boolean>();
  readonly #server = createServer((req, res) => {
    this.requests.push(`${req.method} ${req.url}`);
    const answer = this.#answer(req.method ?? "", req.url ?? "");
    if (!answer) return; // never answers
    // Errors and inspections come as JSON; 204 and 304 have no body.
    if (answer.body === undefined) res.writeHead(answer.status).end();
    else
      res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
  });

  constructor(socket: string) {
    this.socket = socket;
  }

  async listen(): Promise<void> {
    this.#server.listen(this.socket);
    await once(this.#server, "listening");
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, "close");
  }

  #answer(method: string, url: string): { status: number; body?: unknown } | undefined {
    const json = (status: number, body?: unknown) => ({ status, body });
    const match = /^\/v1\.44\/containers\/([^/?]+)\/(start|stop|restart|json)(?:\?t=(\d+))?$/.exec(url);
    if (!match) return json(404, { message: "page not found" });
    const [, encoded, action] = match as unknown as [string, string, string];
    const name = decodeURIComponent(encoded);
    if (name === "hangs") return undefined;
    const running = this.containers.get(name);
    if (running === undefined) return json(404, { message: `No such container: ${name}` });
    if (name === "broken")
      return json(500, { message: "failed to create task for container: OCI runtime create failed" });
    if (action === "json" && method === "GET")
      return json(200, {
        Id: "3f2a",
        Name: `/${name}`,
        State: { Running: running, Status: running ? "running" : "exited" },
      });
    if (method !== "POST") return json(404, { message: "page not found" });
    if (name === "removing")
      return json(409, { message: `container ${name} is marked for removal and cannot be started` });
    if (action === "start" && running) return json(304);
    if (action === "stop" && !running) return json(304);
    this.containers.set(name, action !== "stop" || name === "stuck");
    return json(204);
  }
}

describe("docker actuator", () => {
  let engine: StandInEngine;
  let n = 0;
  beforeEach(async () => {
    engine = new StandInEngine(join(dir.path, `docker-${n++}.sock`));
    await engine.listen();
  });
  afterEach(() => engine.close());

  const actuatorFor = (container = "{agent}", timeoutMs = 5000) =>
    dockerActuator({ socket: engine.socket, container, stopTimeoutSeconds: 7, timeoutMs });

  it("restarts, stops (confirmed by inspecting) and starts the container, at the pinned API version", async () => {
    engine.containers.set("clawguard-gw", true);
    const actuator = actuatorFor("clawguard-{agent}");
    try {
      await actuator.restart("gw", "http://gw:18789", 1);
      await actuator.stop("gw", "http://gw:18789", 1);
      expect(engine.containers.get("clawguard-gw")).toBe(false);
      await actuator.stop("gw", "http://gw:18789", 1); // 304: already stopped is fine
      await actuator.start("gw", "http://gw:18789", 1);
      await actuator.start("gw", "http://gw:18789", 1); // 304: already running is fine
      expect(engine.containers.get("clawguard-gw")).toBe(true);
      expect(DOCKER_API_VERSION).toBe("1.44");
      expect(engine.requests).toEqual([
        "POST /v1.44/containers/clawguard-gw/restart?t=7",
        "POST /v1.44/containers/clawguard-gw/stop?t=7",
        "GET /v1.44/containers/clawguard-gw/json",
        "POST /v1.44/containers/clawguard-gw/stop?t=7",
        "GET /v1.44/containers/clawguard-gw/json",
        "POST /v1.44/containers/clawguard-gw/start",
        "POST /v1.44/containers/clawguard-gw/start",
      ]);
    } finally {
      await actuator.close?.();
      await actuator.close?.();
    }
  });

  it("fills {port} and {target} too, and URL-encodes the name so it cannot reach another endpoint", async () => {
    const actuator = actuatorFor("{agent}-{port}");
    try {
      await expect(actuator.start("../../info?x=", "http://gw:18789", 1)).rejects.toThrow(
        'docker start ../../info?x=-18789 (agent ../../info?x=): no such container "../../info?x=-18789" ' +
          '(controller.actuator.container "{agent}-{port}"): the Engine says "No such container: ../../info?x=-18789"',
      );
      expect(engine.requests).toEqual(["POST /v1.44/containers/..%2F..%2Finfo%3Fx%3D-18789/start"]);
    } finally {
      await actuator.close?.();
    }
  });

  it("fails with the container's name on 404, and with the Engine's message on 409 and 500", async () => {
    engine.containers.set("removing", false);
    engine.containers.set("broken", false);
    const actuator = actuatorFor();
    try {
      const missing = actuator.restart("gw", "http://gw:18789", 1);
      await expect(missing).rejects.toThrow(
        'docker restart gw: no such container "gw": the Engine says "No such container: gw"',
      );
      await missing.catch((err) => expect(isClawguardError(err, "upstream.rejected")).toBe(true));
      await expect(actuator.start("removing", "http://gw:18789", 1)).rejects.toThrow(
        "docker start removing: the Docker Engine answered HTTP 409: container removing is marked for removal and cannot be started",
      );
      const broken = actuator.stop("broken", "http://gw:18789", 1);
      await expect(broken).rejects.toThrow(
        "docker stop broken: the Docker Engine answered HTTP 500: failed to create task for container: OCI runtime create failed",
      );
      await broken.catch((err) =>
        expect(isClawguardError(err, "upstream.unavailable") && err.retryable).toBe(true),
      );
    } finally {
      await actuator.close?.();
    }
  });

  it("a container's name other than the agent's is named with the template in a 404", async () => {
    const actuator = actuatorFor("oc-{agent}");
    try {
      await expect(actuator.stop("gw", "http://gw:18789", 1)).rejects.toThrow(
        'docker stop oc-gw (agent gw): no such container "oc-gw" (controller.actuator.container "oc-{agent}")',
      );
    } finally {
      await actuator.close?.();
    }
  });

  it("a stop the Engine accepts but that leaves the container running fails the step", async () => {
    engine.containers.set("stuck", true);
    const actuator = actuatorFor();
    try {
      await expect(actuator.stop("stuck", "http://gw:18789", 1)).rejects.toThrow(
        'docker stop stuck: the Engine accepted the stop but the container is still running (State.Running true, State.Status "running"): expected State.Running false',
      );
    } finally {
      await actuator.close?.();
    }
  });

  it("times out with the actuator's timeoutMs", async () => {
    engine.containers.set("hangs", true);
    const actuator = actuatorFor("{agent}", 300);
    try {
      const started = Date.now();
      await expect(actuator.restart("hangs", "http://gw:18789", 1)).rejects.toThrow(
        `docker restart hangs: the Docker Engine at unix socket ${engine.socket} did not answer within 300 ms`,
      );
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await actuator.close?.();
    }
  });

  it("a socket that is not there is a clear error naming its path", async () => {
    const socket = join(dir.path, "no-docker-here.sock");
    const actuator = dockerActuator({
      socket,
      container: "{agent}",
      stopTimeoutSeconds: 10,
      timeoutMs: 5000,
    });
    try {
      const call = actuator.start("gw", "http://gw:18789", 1);
      await expect(call).rejects.toThrow(
        `docker start gw: cannot reach the Docker Engine at unix socket ${socket} (connect ENOENT ${socket}): ` +
          "expected the Engine's API socket there",
      );
      await call.catch((err) => expect(isClawguardError(err, "upstream.unavailable")).toBe(true));
    } finally {
      await actuator.close?.();
    }
  });
});

describe("actuator config", () => {
  const parse = (actuator: unknown) => controllerConfig.parse({ actuator }).actuator;

  it("docker needs nothing but its kind; its defaults are the Engine's usual socket and the agent's name", () => {
    const docker = parse({ kind: "docker" });
    expect(docker).toMatchObject({
      socket: "/var/run/docker.sock",
      container: "{agent}",
      stopTimeoutSeconds: 10,
      timeoutMs: 60_000,
    });
    expect(actuatorProblems(docker)).toEqual([]);
    expect(actuatorProblems(parse({ kind: "webhook", url: "https://ops.example/failover" }))).toEqual([]);
    expect(actuatorProblems(parse({ start: ["docker", "start", "{agent}"], stop: ["true"] }))).toEqual([]);
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
