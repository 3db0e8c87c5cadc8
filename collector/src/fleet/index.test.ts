import { describe, expect, it } from "vitest";
import { driftOf, type FleetAgent } from "./index.ts";

describe("driftOf", () => {
  const agent = (name: string, fp: string, keys?: Record<string, string>, stale = false) =>
    ({
      agent: name,
      role: "sub-agent",
      configFingerprint: fp,
      configKeys: keys,
      stale,
    }) as unknown as FleetAgent;

  it("names the roles whose live agents differ, and the keys that differ", () => {
    const drift = driftOf([
      agent("sub1", "a".repeat(64), {
        "openclaw.models.providers.openai": "1111",
        "openclaw.gateway.mode": "2222",
      }),
      agent("sub2", "b".repeat(64), {
        "openclaw.models.providers.openai": "3333",
        "openclaw.gateway.mode": "2222",
      }),
      agent("sub3", "a".repeat(64), {
        "openclaw.models.providers.openai": "1111",
        "openclaw.gateway.mode": "2222",
      }),
      agent("sub4", "c".repeat(64), { "clawguard.exec.maxBytes": "9999" }, true), // stale: not counted
    ]);
    expect(drift).toEqual([
      {
        role: "sub-agent",
        fingerprints: { ["a".repeat(64)]: ["sub1", "sub3"], ["b".repeat(64)]: ["sub2"] },
        keys: ["openclaw.models.providers.openai"],
      },
    ]);
  });
});
