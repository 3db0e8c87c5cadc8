import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { incidentsCommand } from "./fleet.ts";

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
        "    2026-11-24T12:00:00.000Z  opened   healthy -> unhealthy: chat: HTTP 403",
        "    2026-11-24T12:00:03.000Z  restart (token 7): sub1 unhealthy for 3000 ms: restart in place (1 of 3)",
        "",
      ].join("\n"),
    );
  });
});
