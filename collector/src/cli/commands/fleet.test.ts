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
    const out = await fleetOutput(body);
    const [ahead, fine] = out.split("\n");
    expect(ahead).toMatch(/ahead .* CLOCK \+3600\.0 s \(round-trip\)$/);
    expect(fine).not.toMatch(/CLOCK/);
  });

  it("prints an agent's hostile reason escaped: shown, never acted on by the terminal", async () => {
    const hostile = "ok\x1b]8;;http://evil\x07click\x1b[2K\x1b[1A\x1b[31mFAKE OK \u202eKO\u2069 \x9b2J";
    const out = await fleetOutput({
      agents: [
        {
          agent: "gw",
          role: "gateway",
          host: "h",
          state: "unhealthy",
          stale: false,
          lastSeen: "2026-12-07T05:00:00.000Z",
          reasons: [hostile],
          probes: [],
        },
      ],
      drift: [],
    });
    expect(out).toContain("\\x1b[31mFAKE OK \\u202eKO");
    for (const c of ["\u001b", "\u009b", "\u202e"]) expect(out).not.toContain(c);
  });
});

/** What `clawguard fleet` prints for a collector that answers `body`. */
async function fleetOutput(body: unknown): Promise<string> {
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
  return out.join("");
}
