import { describe, expect, it } from "vitest";
import { launcher } from "./up.ts";

describe("up: the hints' launcher", () => {
  it("is npx pnpm@<version> when npx fetched pnpm for the run (no pnpm on the user's PATH)", () => {
    expect(
      launcher({
        npm_config_user_agent: "pnpm/10.34.8 npm/? node/v24.21.0 linux x64",
        npm_execpath: "/root/.npm/_npx/4c2f8e/node_modules/pnpm/bin/pnpm.cjs",
      }),
    ).toBe("npx -y pnpm@10.34.8 clawguard");
  });

  it("is pnpm when pnpm is the user's own, or unknown", () => {
    expect(
      launcher({
        npm_config_user_agent: "pnpm/10.34.8 npm/? node/v24.21.0 linux x64",
        npm_execpath: "/usr/local/lib/node_modules/pnpm/bin/pnpm.cjs",
      }),
    ).toBe("pnpm clawguard");
    expect(launcher({})).toBe("pnpm clawguard");
  });
});
