import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { fleetCommand, incidentsCommand } from "./fleet.ts";

describe("clawguard incidents", () => {
  it("prints state changes with their reasons and controller actions with their fencing token", async () => {
    const body = {
      incidents: [
        {
          id: "01",
          agent: "sub1",
          openedAt: "2026-11-24T12:00:00.000Z",
          resolvedAt: null,
          state: "unhealthy",
          reasons: ["chat: HTTP 403"],
          timeline: [
            {
              at: "2026-11-24T12:00:00.000Z",
              kind: "opened",
              fromState: "healthy",
              toState: "unhealthy",
              reasons: ["chat: HTTP 403"],
              repeats: 12,
              lastAt: "2026-11-24T12:00:11.000Z",
            },
            {
              at: "2026-11-24T12:00:03.000Z",
              kind: "action",
              fromState: "unhealthy",
              toState: "unhealthy",
              reasons: [],
              action: "restart",
              detail: "sub1 unhealthy for 3000 ms: restart in place (1 of 3)",
              token: 7,
            },
          ],
        },
      ],
      next_cursor: null,
    };
    const server = createServer((req, res) => {
      res.writeHead(req.headers.authorization === "Bearer r" ? 200 : 401, {
        "content-type": "application/json",
      });
      res.end(JSON.stringify(body));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const out: string[] = [];
    try {
      const code = await incidentsCommand.run(
        ["--url", `http://127.0.0.1:${(server.address() as AddressInfo).port}`],
        { env: { CLAWGUARD_READ_TOKEN: "r" }, cwd: "/", out: (t) => void out.push(String(t)), err: () => {} },
      );
      expect(code).toBe(0);
    } finally {
      server.close();
    }
    expect(out.join("")).toBe(
      [
        "2026-11-24T12:00:00.000Z  sub1         unhealthy  OPEN",
        "    2026-11-24T12:00:00.000Z  opened   healthy -> unhealthy: chat: HTTP 403 (reported 12 times, last at 2026-11-24T12:00:11.000Z)",
        "    2026-11-24T12:00:03.000Z  restart (token 7): sub1 unhealthy for 3000 ms: restart in place (1 of 3)",
        "",
      ].join("\n"),
    );
  });
});

describe("clawguard fleet", () => {
  it("flags an agent whose clock is off from the collector's", async () => {
    const agent = (name: string, offsetMs: number, skewed: boolean) => ({
      agent: name,
      role: "agent",
      host: "h",
      state: "healthy",
      stale: false,
      reasons: [],
      lastSeen: "2026-11-24T12:00:00.000Z",
      configFingerprint: "a".repeat(64),
      clockOffset: { offsetMs, method: "round-trip", skewed },
    });
    const body = { agents: [agent("ahead", 3_600_000, true), agent("fine", 12, false)], drift: [] };
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const out: string[] = [];
    try {
      await fleetCommand.run(["--url", `http://127.0.0.1:${(server.address() as AddressInfo).port}`], {
        env: { CLAWGUARD_READ_TOKEN: "r" },
        cwd: "/",
        out: (t) => void out.push(String(t)),
        err: () => {},
      });
    } finally {
      server.close();
    }
    const [ahead, fine] = out.join("").split("\n");
    expect(ahead).toMatch(/ahead .* CLOCK \+3600\.0 s \(round-trip\)$/);
    expect(fine).not.toMatch(/CLOCK/);
  });
});
