import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runCommand, tempDir } from "@clawguard/shared/testing";
import { afterEach, describe, expect, it } from "vitest";
import { execCommand } from "./exec.ts";

let tmp: ReturnType<typeof tempDir>;
afterEach(() => tmp.cleanup());

describe("clawguard exec with nothing that names its agent", () => {
  it("says where its events go when no config names the agent and no sidecar answers", async () => {
    tmp = tempDir("clawguard-exec-unknown-");
    mkdirSync(join(tmp.path, ".clawguard"));
    // Port 1: refused at once, as on a machine with no sidecar there.
    const env = {
      PATH: process.env.PATH,
      CLAWGUARD_SIDECAR_LISTEN: "127.0.0.1:1",
      CLAWGUARD_EXEC_CACHE: "off",
    };
    const r = await runCommand(execCommand, ["--", "true"], { cwd: tmp.path, env });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(
      /no config names this agent and no sidecar answered on 127\.0\.0\.1:1: the events go to agent "main"'s inbox/,
    );
    expect(readdirSync(join(tmp.path, ".clawguard", "agents", "main", "inbox")).length).toBeGreaterThan(0);
    // Named: no word about it.
    const named = await runCommand(execCommand, ["--", "true"], {
      cwd: tmp.path,
      env: { ...env, CLAWGUARD_AGENT: "sub1" },
    });
    expect(named.err).toBe("");
  });

  it("says so when no .clawguard/ folder is here or above (its events would land where no sidecar looks)", async () => {
    tmp = tempDir("clawguard-exec-nows-");
    const env = { PATH: process.env.PATH, CLAWGUARD_AGENT: "sub1", CLAWGUARD_EXEC_CACHE: "off" };
    const r = await runCommand(execCommand, ["--", "true"], { cwd: tmp.path, env });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/no \.clawguard\/ folder here or above .*set CLAWGUARD_WORKSPACE/);
  });
});

describe("clawguard exec with an inbox of its own (CLAWGUARD_INBOX_DIR)", () => {
  it("leaves its drafts there whatever agent CLAWGUARD_AGENT names, and none in the shared workspace", async () => {
    tmp = tempDir("clawguard-exec-inbox-");
    const workspace = join(tmp.path, "workspace");
    const inbox = join(tmp.path, "own", "inbox");
    mkdirSync(join(workspace, ".clawguard"), { recursive: true });
    const env = {
      PATH: process.env.PATH,
      CLAWGUARD_AGENT: "gateway",
      CLAWGUARD_INBOX_DIR: inbox,
      CLAWGUARD_EXEC_CACHE: "off",
    };
    const r = await runCommand(execCommand, ["--", "true"], { cwd: workspace, env });
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(readdirSync(inbox).filter((f) => f.endsWith(".json")).length).toBe(2);
    expect(readdirSync(join(workspace, ".clawguard"))).not.toContain("agents");
  });
});
