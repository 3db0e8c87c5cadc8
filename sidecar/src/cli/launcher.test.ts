import { describe, expect, it } from "vitest";
import { launcher } from "./launcher.ts";

describe("the hints' launcher", () => {
  it("is npx pnpm@<version> when npx fetched pnpm for the run (no pnpm on the user's PATH)", () => {
    expect(
      launcher({
        npm_config_user_agent: "pnpm/10.34.8 npm/? node/v24.21.0 linux x64",
        npm_execpath: "/root/.npm/_npx/4c2f8e/node_modules/pnpm/bin/pnpm.cjs",
        npm_lifecycle_event: "clawguard",
      }),
    ).toBe("npx -y pnpm@10.34.8 clawguard");
  });

  it("is pnpm when the user's own pnpm ran a package script", () => {
    expect(
      launcher({
        npm_config_user_agent: "pnpm/10.34.8 npm/? node/v24.21.0 linux x64",
        npm_execpath: "/usr/local/lib/node_modules/pnpm/bin/pnpm.cjs",
        npm_lifecycle_event: "start",
      }),
    ).toBe("pnpm clawguard");
  });

  it("is the bare name when no package script ran it (an installed bin, the agent's container)", () => {
    expect(launcher({})).toBe("clawguard");
  });
});
