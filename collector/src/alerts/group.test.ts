import { describe, expect, it } from "vitest";
import { collectorSchema } from "../config.ts";
import { alertsConfig } from "./config.ts";
import { dueAt, enqueue, type Group, MAX_PENDING, spent } from "./group.ts";
import { mattermostGroupMessage, type Notice } from "./notify.ts";

const config = alertsConfig.parse({}).group;
const notice = (
  agent: string,
  status: Notice["status"] = "firing",
  severity: Notice["severity"] = "P1",
): Notice => ({
  id: `${agent}-${status}`,
  status,
  alert: "llm_error_rate",
  severity,
  agent,
  role: "bot",
  summary: `${agent}: 9.0 % of LLM calls failed`,
  startsAt: "2026-12-07T09:00:00.000Z",
});

describe("a rule's notification group", () => {
  it("is due at once the first time, then an interval of its severity after the last post", () => {
    const g: Group = { pending: [] };
    expect(dueAt(g, config)).toBeUndefined();
    enqueue(g, "llm_error_rate:a", notice("a"), 1000);
    expect(dueAt(g, config)).toBe(1000);
    g.pending.splice(0);
    g.sentAt = 1000;
    enqueue(g, "llm_error_rate:b", notice("b"), 2000);
    expect(dueAt(g, config)).toBe(61_000); // P1: 1 min
    const p0: Group = { sentAt: 1000, pending: [] };
    enqueue(p0, "gateway_down:gw", notice("gw", "firing", "P0"), 2000);
    expect(dueAt(p0, config)).toBe(11_000); // P0: 10 s
    expect(dueAt(p0, { ...config, waitMs: 30_000 })).toBe(32_000);
  });

  it("keeps one notice per alert (a resolve replaces the firing still waiting), bounded", () => {
    const g: Group = { pending: [] };
    enqueue(g, "k:a", notice("a"), 0);
    enqueue(g, "k:b", notice("b"), 0);
    enqueue(g, "k:a", notice("a", "resolved"), 0);
    expect(g.pending.map((p) => p.notice.id)).toEqual(["b-firing", "a-resolved"]);
    let dropped = 0;
    for (let i = 0; i < MAX_PENDING + 5; i++) dropped += enqueue(g, `k:${i}`, notice(`x${i}`), 0);
    expect(g.pending).toHaveLength(MAX_PENDING);
    expect(dropped).toBe(7);
  });

  it("is forgotten once nothing waits and its last post is older than the longest interval", () => {
    expect(spent({ pending: [], sentAt: 0 }, 299_999, config)).toBe(false);
    expect(spent({ pending: [], sentAt: 0 }, 300_000, config)).toBe(true);
    expect(spent({ pending: [{ key: "k", notice: notice("a") }], sentAt: 0 }, 900_000, config)).toBe(false);
  });

  it("refuses a wait longer than an interval, and intervals under 1 s", () => {
    expect(() => collectorSchema.parse({ alerts: { group: { waitMs: 20_000 } } })).toThrow(
      /waitMs: expected at most every intervalMs/,
    );
    expect(() => collectorSchema.parse({ alerts: { group: { intervalMs: { P0: 10 } } } })).toThrow(
      /expected an integer >= 1000/,
    );
  });
});

describe("a Mattermost post of a group", () => {
  it("lists maxAgents agents then +K more, one attachment per status, what agents wrote inert", () => {
    const notices = [
      ...Array.from({ length: 25 }, (_, i) => notice(`bot-${i}`)),
      notice("@channel\u200b\u202eevil"),
      notice("bot-ok", "resolved"),
    ];
    const m = mattermostGroupMessage(notices, "ops", 20) as {
      text: string;
      channel: string;
      attachments: { title: string; text: string; color: string }[];
    };
    expect(m.channel).toBe("ops");
    expect(m.text).toBe(
      "**:rotating_light: FIRING P1 llm_error_rate on 26 agents · :white_check_mark: RESOLVED P1 llm_error_rate on bot-ok**",
    );
    const [firing, resolved] = m.attachments;
    expect(firing?.title).toBe("llm_error_rate: 26 agents firing");
    const lines = firing?.text.split("\n") ?? [];
    expect(lines).toHaveLength(21);
    expect(lines[0]).toBe("- bot-0 (bot): bot-0: 9.0 % of LLM calls failed");
    expect(lines[20]).toBe("+6 more");
    expect(resolved).toMatchObject({ color: "#2e7d32", title: "llm_error_rate: 1 agent resolved" });
    const all = mattermostGroupMessage([notice("@channel\u200b\u202eevil"), notice("b")], undefined, 20);
    const text = JSON.stringify(all);
    expect(text).not.toMatch(/@channel|\u202e/);
    // One notice alone: the single post, as before grouping.
    expect(mattermostGroupMessage([notice("a")], undefined, 20).text).toBe(
      "**:rotating_light: FIRING P1 llm_error_rate on a**",
    );
  });
});
