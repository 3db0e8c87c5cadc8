import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import { chatProbeCosts } from "../../sources/prober/cost.ts";
import { sidecarCommand } from "./sidecar.ts";

async function run(args: string[]) {
  const tmp = tempDir();
  try {
    const file = join(tmp.path, "clawguard.yaml");
    writeFileSync(
      file,
      JSON.stringify({
        probe: {
          intervalMs: 30_000,
          probes: [{ name: "chat", kind: "chat", url: "http://127.0.0.1:18789/v1/chat/completions" }],
        },
      }),
    );
    const out: string[] = [];
    const err: string[] = [];
    const code = await sidecarCommand.run(["--config", file, ...args], {
      env: { CLAWGUARD_INGEST_TOKEN: "ingest-secret" },
      cwd: tmp.path,
      out: (t) => void out.push(String(t)),
      err: (t) => void err.push(t),
    });
    return { code, out: out.join(""), err: err.join("") };
  } finally {
    tmp.cleanup();
  }
}

describe("clawguard sidecar", () => {
  it("--print-config prints the config on stdout and each chat probe's tokens an hour on stderr", async () => {
    const { code, out, err } = await run(["--print-config"]);
    expect(code).toBe(0);
    const config = JSON.parse(out); // stdout stays the config alone
    expect(config.probe.probes[0]).toMatchObject({
      name: "chat",
      session: "clawguard-probe",
      sessionTurns: 50,
    });
    const [cost] = chatProbeCosts(config.probe);
    expect(cost?.probesPerHour).toBe(120);
    expect(err).toBe(
      `probe chat (chat): ~${cost?.tokensPerProbe.toLocaleString("en-US")} prompt tokens a probe (plus up to 64 of answer) x 120 probes an hour = ~${cost?.tokensPerHour.toLocaleString("en-US")} tokens an hour (measured on OpenClaw 2026.9.6 with its default tools; more tools, skills or workspace files cost more)\n`,
    );
  });

  it("--check says the same after the config is valid", async () => {
    const { code, out } = await run(["--check"]);
    expect(code).toBe(0);
    expect(out).toMatch(
      /^sidecar config is valid\nprobe chat \(chat\): ~[\d,]+ prompt tokens a probe .* 120 probes an hour = ~[\d,]+ tokens an hour/,
    );
  });
});
