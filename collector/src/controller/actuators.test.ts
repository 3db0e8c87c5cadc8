import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { commandActuator, webhookActuator } from "./index.ts";

describe("actuators", () => {
  it("command: fills in {agent}, {target}, {port}; a non-zero exit fails with the output", async () => {
    const actuator = commandActuator(
      {
        start: ["sh", "-c", "test '{agent}:{port}:{target}' = 'gw:18789:http://gw:18789'"],
        stop: ["sh", "-c", "echo no such container >&2; exit 3"],
      },
      5000,
    );
    await actuator.start("gw", "http://gw:18789");
    await expect(actuator.stop("gw", "http://gw:18789")).rejects.toThrow(/exited 3: no such container/);
  });

  it("webhook: posts the action with its token; anything but 2xx fails the step", async () => {
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
      await actuator.restart("gw", "http://gw:18789");
      expect(calls[0]).toEqual({
        auth: "Bearer hook-token",
        body: { action: "restart", agent: "gw", target: "http://gw:18789" },
      });
      status = 503;
      await expect(actuator.start("gw-standby", "http://gw-standby:18789")).rejects.toThrow(
        /webhook answered HTTP 503: orchestrator says no/,
      );
    } finally {
      server.close();
    }
  });
});
