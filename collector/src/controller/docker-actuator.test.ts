import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { type Logger, silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { Agent, request } from "undici";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { DOCKER_API_VERSION, dockerActuator } from "./docker-actuator.ts";
import { StandInEngine } from "./stand-in-engine.ts";

const dir = tempDir("clawguard-docker-");
afterAll(() => dir.cleanup());

let engine: StandInEngine;
let n = 0;
beforeEach(async () => {
  engine = new StandInEngine(join(dir.path, `docker-${n++}.sock`));
  await engine.listen();
});
afterEach(() => engine.close());

/** The requests as one reads them: the list's filters decoded. */
const requests = () => engine.requests.map((r) => decodeURIComponent(r));

describe("docker actuator: container", () => {
  const actuatorFor = (container = "{agent}", timeoutMs = 5000) =>
    dockerActuator({ socket: engine.socket, container, stopTimeoutSeconds: 7, timeoutMs, log: silentLogger });

  it("restarts, stops (confirmed by inspecting) and starts the container, at the pinned API version", async () => {
    engine.add("clawguard-gw", "running");
    const actuator = actuatorFor("clawguard-{agent}");
    try {
      await actuator.restart("gw", "http://gw:18789", 1);
      await actuator.stop("gw", "http://gw:18789", 1);
      expect(engine.state("clawguard-gw")).toBe("exited");
      await actuator.stop("gw", "http://gw:18789", 1); // 304: already stopped is fine
      await actuator.start("gw", "http://gw:18789", 1);
      await actuator.start("gw", "http://gw:18789", 1); // 304: already running is fine
      expect(engine.state("clawguard-gw")).toBe("running");
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

  it("negotiates the API version as Docker's clients do: an Engine 20.10 (API 1.41) is asked at 1.41", async () => {
    engine.apiVersion = "1.41";
    engine.add("clawguard-gw", "running");
    const actuator = actuatorFor("clawguard-{agent}");
    try {
      await actuator.stop("gw", "http://gw:18789", 1);
      expect(engine.state("clawguard-gw")).toBe("exited");
      expect(engine.requests).toEqual([
        "POST /v1.41/containers/clawguard-gw/stop?t=7",
        "GET /v1.41/containers/clawguard-gw/json",
      ]);
    } finally {
      await actuator.close?.();
    }
  });

  it("the stand-in refuses a version newer than its own as the Engine does; too old an Engine is refused by name", async () => {
    engine.apiVersion = "1.24";
    engine.add("clawguard-gw", "running");
    const actuator = actuatorFor("clawguard-{agent}");
    try {
      await expect(actuator.stop("gw", "http://gw:18789", 1)).rejects.toThrow(
        /speaks API 1\.24; expected 1\.25 or newer/,
      );
      expect(engine.requests).toEqual([]);
      const dispatcher = new Agent({ connect: { socketPath: engine.socket } });
      const r = await request("http://docker/v1.44/containers/json", { dispatcher });
      expect(r.statusCode).toBe(400);
      expect(await r.body.json()).toEqual({
        message: "client version 1.44 is too new. Maximum supported API version is 1.24",
      });
      await dispatcher.close();
    } finally {
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
    engine.add("removing", "exited");
    engine.add("broken", "exited");
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
    engine.add("stuck", "running");
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
    engine.add("hangs", "running");
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
      log: silentLogger,
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

  it("refuses to be built with neither or both of container and compose", () => {
    const common = { socket: engine.socket, stopTimeoutSeconds: 7, timeoutMs: 5000, log: silentLogger };
    expect(() => dockerActuator(common)).toThrow("expected exactly one of container and compose");
    expect(() =>
      dockerActuator({ ...common, container: "{agent}", compose: { project: "p", sidecarSuffix: "-s" } }),
    ).toThrow("expected exactly one of container and compose");
  });
});

describe("docker actuator: compose", () => {
  const P = "openclaw";
  const list = (service: string) =>
    `GET /v1.44/containers/json?all=true&filters={"label":["com.docker.compose.project=${P}","com.docker.compose.service=${service}","com.docker.compose.oneoff=False"]}`;
  const warnings: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const log: Logger = { ...silentLogger, warn: (msg, fields) => warnings.push({ msg, fields }) };
  beforeEach(() => {
    warnings.length = 0;
  });
  const actuatorFor = () =>
    dockerActuator({
      socket: engine.socket,
      compose: { project: P, sidecarSuffix: "-clawguard" },
      stopTimeoutSeconds: 7,
      timeoutMs: 5000,
      log,
    });
  const target = "http://gateway-standby:18789";

  /** The seed's gateway group as `clawguard inject` deploys it, and look-alikes that must not be touched. */
  function seed(standby: "exited" | "running" = "exited", sidecar: "exited" | "running" = standby) {
    const ids = {
      gateway: engine.addService(P, "gateway", "running", { name: "openclaw-main" }), // container_name
      gatewaySidecar: engine.addService(P, "gateway-clawguard", "running", { joins: "openclaw-main" }),
      standby: engine.addService(P, "gateway-standby", standby),
      standbySidecar: engine.addService(P, "gateway-standby-clawguard", sidecar, {
        joins: "openclaw-gateway-standby-1",
      }),
    };
    // Another deployment of the same file, and a `docker compose run` of the standby service.
    engine.addService("openclaw-staging", "gateway-standby", "exited");
    engine.addService(P, "gateway-standby", "running", {
      name: "openclaw-gateway-standby-run-3f2a",
      oneoff: true,
    });
    return ids;
  }

  it("start: the agent, then its sidecar, which joins the agent's namespace; each found by its labels", async () => {
    const ids = seed();
    const actuator = actuatorFor();
    try {
      await actuator.start("gateway-standby", target, 1);
      expect(requests()).toEqual([
        list("gateway-standby"),
        list("gateway-standby-clawguard"),
        `POST /v1.44/containers/${ids.standby}/start`,
        `POST /v1.44/containers/${ids.standbySidecar}/start`,
      ]);
      expect(engine.state("openclaw-gateway-standby-1")).toBe("running");
      expect(engine.inItsNamespace("openclaw-gateway-standby-clawguard-1")).toBe(true);
      expect(engine.state("openclaw-staging-gateway-standby-1")).toBe("exited");
      expect(warnings).toEqual([]);
    } finally {
      await actuator.close?.();
    }
  });

  it("start: a sidecar left running while its agent was down is restarted, to leave the namespace that is gone", async () => {
    const ids = seed("exited", "running");
    const actuator = actuatorFor();
    try {
      await actuator.start("gateway-standby", target, 1);
      expect(requests().slice(2)).toEqual([
        `POST /v1.44/containers/${ids.standby}/start`,
        `POST /v1.44/containers/${ids.standbySidecar}/restart?t=7`,
      ]);
      expect(engine.inItsNamespace("openclaw-gateway-standby-clawguard-1")).toBe(true);
    } finally {
      await actuator.close?.();
    }
  });

  it("stop (fencing): the sidecar, then the agent, confirmed by inspecting the agent", async () => {
    const ids = seed();
    const actuator = actuatorFor();
    try {
      await actuator.stop("gateway", "http://gateway:18789", 1);
      expect(requests()).toEqual([
        list("gateway"),
        list("gateway-clawguard"),
        `POST /v1.44/containers/${ids.gatewaySidecar}/stop?t=7`,
        `POST /v1.44/containers/${ids.gateway}/stop?t=7`,
        `GET /v1.44/containers/${ids.gateway}/json`,
      ]);
      expect(engine.state("openclaw-main")).toBe("exited");
      expect(engine.state("openclaw-gateway-clawguard-1")).toBe("exited");
    } finally {
      await actuator.close?.();
    }
  });

  it("restart: the agent, then the sidecar, which would otherwise stay in the agent's old namespace", async () => {
    const ids = seed();
    const actuator = actuatorFor();
    try {
      await actuator.restart("gateway", "http://gateway:18789", 1);
      expect(requests()).toEqual([
        list("gateway"),
        list("gateway-clawguard"),
        `POST /v1.44/containers/${ids.gateway}/restart?t=7`,
        `POST /v1.44/containers/${ids.gatewaySidecar}/restart?t=7`,
      ]);
      expect(engine.inItsNamespace("openclaw-gateway-clawguard-1")).toBe(true);
    } finally {
      await actuator.close?.();
    }
  });

  it("finds the containers afresh at every action: a recreated one has a new id", async () => {
    seed("running");
    const actuator = actuatorFor();
    try {
      await actuator.stop("gateway-standby", target, 1);
      engine.remove("openclaw-gateway-standby-1"); // docker compose up --force-recreate, say
      const recreated = engine.addService(P, "gateway-standby", "exited");
      engine.requests.length = 0;
      await actuator.start("gateway-standby", target, 1);
      expect(requests()[2]).toBe(`POST /v1.44/containers/${recreated}/start`);
      expect(engine.inItsNamespace("openclaw-gateway-standby-clawguard-1")).toBe(true);
    } finally {
      await actuator.close?.();
    }
  });

  it("no container of the agent's service in the project: fails naming both, and how to create one; touches nothing", async () => {
    engine.addService("openclaw-staging", "gateway-standby", "exited");
    const actuator = actuatorFor();
    try {
      const start = actuator.start("gateway-standby", target, 1);
      await expect(start).rejects.toThrow(
        'docker start gateway-standby: no container of Compose service "gateway-standby" in project "openclaw" ' +
          "(stopped ones included): expected one. A service that was never started has none (a standby in a profile): " +
          "create it without starting it, e.g. docker compose -p openclaw --profile <its profile> create gateway-standby gateway-standby-clawguard",
      );
      await start.catch((err) => expect(isClawguardError(err, "upstream.rejected")).toBe(true));
      expect(requests()).toEqual([list("gateway-standby")]);
    } finally {
      await actuator.close?.();
    }
  });

  it("several containers of the agent's service (scale > 1): fails naming them; touches nothing", async () => {
    engine.addService(P, "gateway", "running", { name: "openclaw-gateway-2" });
    engine.addService(P, "gateway", "running", { name: "openclaw-gateway-1" });
    const actuator = actuatorFor();
    try {
      await expect(actuator.stop("gateway", "http://gateway:18789", 1)).rejects.toThrow(
        'docker stop gateway: 2 containers of Compose service "gateway" in project "openclaw" ' +
          "(openclaw-gateway-1, openclaw-gateway-2): expected one (scale 1): the controller does not pick one of several",
      );
      expect(requests()).toEqual([list("gateway")]);
      expect(engine.state("openclaw-gateway-1")).toBe("running");
    } finally {
      await actuator.close?.();
    }
  });

  it("a sidecar missing or failing is warned about and the agent's step goes on: a failover must not end with no gateway", async () => {
    const standby = engine.addService(P, "gateway-standby", "exited");
    engine.addService(P, "gateway", "running");
    engine.add("broken", "running", {
      labels: {
        "com.docker.compose.project": P,
        "com.docker.compose.service": "gateway-clawguard",
        "com.docker.compose.oneoff": "False",
      },
    });
    const actuator = actuatorFor();
    try {
      await actuator.start("gateway-standby", target, 1);
      expect(requests()).toEqual([
        list("gateway-standby"),
        list("gateway-standby-clawguard"),
        `POST /v1.44/containers/${standby}/start`,
      ]);
      expect(engine.state("openclaw-gateway-standby-1")).toBe("running");
      await actuator.stop("gateway", "http://gateway:18789", 1); // its sidecar answers 500
      expect(engine.state("openclaw-gateway-1")).toBe("exited");
      expect(warnings).toEqual([
        {
          msg: "no sidecar container: acting on the agent alone; it is not heard from (no heartbeats, no probes) until its sidecar runs",
          fields: {
            action: "start",
            agent: "gateway-standby",
            project: P,
            service: "gateway-standby-clawguard",
            containers: [],
          },
        },
        {
          msg: "the sidecar's stop failed: the agent's goes on",
          fields: {
            action: "stop",
            agent: "gateway",
            project: P,
            service: "gateway-clawguard",
            container: "broken",
            error:
              "docker stop broken (sidecar of gateway): the Docker Engine answered HTTP 500: failed to create task for container: OCI runtime create failed",
          },
        },
      ]);
    } finally {
      await actuator.close?.();
    }
  });

  it("the stand-in lists as the Engine does: both filter encodings, every label must match, bad filters answer 400", async () => {
    engine.addService(P, "gateway", "running");
    engine.addService(P, "gateway-clawguard", "exited");
    const dispatcher = new Agent({ connect: { socketPath: engine.socket } });
    const names = async (query: string) => {
      const response = await request(`http://docker/v1.44/containers/json?${query}`, { dispatcher });
      const body = (await response.body.json()) as { Names?: string[]; message?: string };
      return response.statusCode === 200
        ? (body as { Names: string[] }[]).map((c) => c.Names[0])
        : `${response.statusCode} ${body.message}`;
    };
    const filters = (value: unknown) => `filters=${encodeURIComponent(JSON.stringify(value))}`;
    try {
      expect(await names("")).toEqual(["/openclaw-gateway-1"]); // running ones only
      expect(await names("all=1")).toEqual(["/openclaw-gateway-1", "/openclaw-gateway-clawguard-1"]);
      expect(
        await names(`all=true&${filters({ label: { "com.docker.compose.service=gateway": true } })}`),
      ).toEqual(["/openclaw-gateway-1"]);
      expect(
        await names(
          `all=true&${filters({ label: ["com.docker.compose.project", "com.docker.compose.oneoff=True"] })}`,
        ),
      ).toEqual([]);
      expect(await names(`all=true&${filters({ label: ["com.docker.compose.project"] })}`)).toHaveLength(2);
      expect(await names("filters=%7Bnope")).toBe("400 invalid filter");
      expect(await names(filters({ colour: ["red"] }))).toBe("400 invalid filter 'colour'");
    } finally {
      await dispatcher.close();
    }
  });
});
