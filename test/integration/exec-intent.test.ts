import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { Processes } from "../support/processes.ts";

/**
 * `clawguard exec` records the command's intent before it starts: kill -9 of the exec (mid-run,
 * before any outcome) still leaves the exec.started event in the agent's inbox.
 */
describe("exec.started survives kill -9 of clawguard exec", () => {
  const procs = new Processes();
  const ws = tempDir("clawguard-exec-intent-");
  let sleeper: number | undefined;

  afterAll(async () => {
    if (sleeper) {
      try {
        process.kill(sleeper, "SIGKILL");
      } catch {
        // gone
      }
    }
    await procs.cleanup();
    ws.cleanup();
  });

  it("leaves the start (redacted command, cwd, session, run id) and no outcome", async () => {
    const pidFile = join(ws.path, "pid");
    const secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    const exec = procs.cli(
      "exec",
      ["exec", "--session", "k9", "--", "sh", "-c", `echo $$ > ${pidFile}; exec sleep 30 # ${secret}`],
      { CLAWGUARD_WORKSPACE: ws.path, CLAWGUARD_AGENT: "main", CLAWGUARD_EXEC_CACHE: "off" },
      ws.path,
    );
    const deadline = Date.now() + 20_000;
    while (!existsSync(pidFile) || readFileSync(pidFile, "utf8").trim() === "") {
      if (Date.now() > deadline) throw new Error(`the command did not start: ${exec.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    sleeper = Number(readFileSync(pidFile, "utf8"));
    expect(await exec.kill("SIGKILL")).toBe("SIGKILL");
    const inbox = join(ws.path, ".clawguard", "agents", "main", "inbox");
    const drafts = readdirSync(inbox)
      .filter((n) => n.endsWith(".json") && !n.startsWith("."))
      .map((n) => JSON.parse(readFileSync(join(inbox, n), "utf8")) as EventDraft);
    expect(drafts).toHaveLength(1);
    const [start] = drafts as [EventDraft];
    expect(start).toMatchObject({ type: "exec.started", session: "k9", source: { agent: "main" } });
    expect(start.attrs).toMatchObject({
      argv0: "sh",
      cwd: ws.path,
      run_id: expect.stringMatching(/^[0-9A-Z]{26}$/),
    });
    expect(start.attrs.command).toMatch(/^sh -c "echo \$\$ > .* exec sleep 30 # /);
    expect(JSON.stringify(start)).not.toContain(secret);
    // The room set aside for its outcome stays (the sidecar drops it after a day).
    expect(readdirSync(inbox)).toContain(`.reserved-${start.attrs.run_id}.tmp`);
  });
});
