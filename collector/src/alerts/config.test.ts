import { describe, expect, it } from "vitest";
import { collectorSchema } from "../config.ts";
import { checkConfig } from "../main.ts";

describe("alerts config", () => {
  it("reads each webhook's secret before anything starts, and names what is missing or wrong", () => {
    const config = collectorSchema.parse({
      auth: { sidecars: [{ agent: "a", token: { env: "T" } }], readToken: { env: "R" } },
      alerts: {
        mattermost: [{ url: { env: "MM" } }, { url: { env: "NOT_SET" } }],
        webhooks: [{ url: { env: "BAD" } }],
      },
    });
    const env = {
      T: "t".repeat(20),
      R: "r".repeat(20),
      MM: "https://chat.example/hooks/abc",
      BAD: "ftp://x",
    };
    expect(() => checkConfig(config, env)).toThrow(
      /2 problems:\n {2}- alerts\.mattermost\[1\]\.url: environment variable NOT_SET is not set\n {2}- alerts\.webhooks\[0\]\.url: expected an http\(s\) URL from env or file$/,
    );
    const ok = checkConfig(config, {
      ...env,
      NOT_SET: "http://127.0.0.1:1/hooks/x",
      BAD: "http://hook.example/x",
    });
    expect(ok.targets.map((t) => t.name)).toEqual([
      "mattermost https://chat.example",
      "mattermost http://127.0.0.1:1",
      "webhook http://hook.example",
    ]);
    expect(() => collectorSchema.parse({ alerts: { errorRate: { threshold: 5 } } })).toThrow(
      /expected a number in 0\.\.1/,
    );
  });

  it("refuses a silence of an alert that does not exist, with the nearest name", () => {
    const until = "2099-01-01T00:00:00Z";
    const parsed = collectorSchema.safeParse({ alerts: { silences: [{ alert: "gatway_down", until }] } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(
      /^not an alert of the collector \(did you mean "gateway_down"\?\): expected one of gateway_down, /,
    );
    const far = collectorSchema.safeParse({ alerts: { silences: [{ alert: "disk_full", until }] } });
    expect(far.error?.issues[0]?.message).not.toMatch(/did you mean/);
    expect(
      collectorSchema.parse({ alerts: { silences: [{ alert: "gateway_down", until }] } }).alerts.silences,
    ).toHaveLength(1);
  });
});
