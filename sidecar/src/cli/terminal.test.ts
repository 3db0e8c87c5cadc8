import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { fleetCommand } from "./commands/fleet.ts";
import { terminalSafe } from "./terminal.ts";

const HOSTILE = "ok\x1b]8;;http://evil\x07click\x1b[2K\x1b[1A\x1b[31mFAKE OK \u202eKO\u2069 \x9b2J";

describe("what the collector relays is shown, never acted on by the terminal", () => {
  it("escapes ESC, other C0 and C1 controls, DEL and bidi controls; keeps text, newlines and tabs", () => {
    expect(terminalSafe(HOSTILE)).toBe(
      "ok\\x1b]8;;http://evil\\x07click\\x1b[2K\\x1b[1A\\x1b[31mFAKE OK \\u202eKO\\u2069 \\x9b2J",
    );
    expect(terminalSafe("a\tb\nc — ünïcode ☃ 中文")).toBe("a\tb\nc — ünïcode ☃ 中文");
  });

  it("clawguard fleet prints an agent's hostile reason escaped", async () => {
    const body = {
      agents: [
        {
          agent: "gw",
          role: "gateway",
          host: "h",
          state: "unhealthy",
          stale: false,
          lastSeen: "2026-12-07T05:00:00.000Z",
          reasons: [HOSTILE],
          probes: [],
        },
      ],
      drift: [],
    };
    const server = createServer((_, res) => {
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
    const text = out.join("");
    expect(text).toContain("\\x1b[31mFAKE OK \\u202eKO");
    for (const c of ["\u001b", "\u009b", "\u202e"]) expect(text).not.toContain(c);
  });
});
