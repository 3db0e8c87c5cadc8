import { existsSync } from "node:fs";
import { join } from "node:path";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execGuardConfig } from "./config.ts";
import { createExecGuard } from "./index.ts";
import { SpillStore } from "./spill.ts";

const source = { agent: "main", role: "agent", host: "test-host" };
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
let tmp: ReturnType<typeof tempDir>;

beforeEach(() => {
  tmp = tempDir("clawguard-exec-intent-");
});
afterEach(() => tmp.cleanup());

function noSpace(): never {
  throw Object.assign(
    new Error("ENOSPC: no space left on device, open '/ws/.clawguard/agents/main/inbox/x.json'"),
    {
      code: "ENOSPC",
    },
  );
}

function guardWith(recordStart: (draft: EventDraft) => void, config: Record<string, unknown> = {}) {
  const guard = createExecGuard({
    source,
    spill: new SpillStore(join(tmp.path, "spill")),
    config: execGuardConfig.parse({ maxBytes: 1000, previewBytes: 600, ...config }),
    readCommand: "clawguard read",
    recordStart,
  });
  return (argv: string[]) => guard.run({ argv, cwd: tmp.path, env, session: "s1", timeoutMs: 10_000 });
}

describe("exec.started: the intent, recorded before the command runs", () => {
  it("is recorded before the command starts, redacted, and the outcome names its run id", async () => {
    const marker = join(tmp.path, "ran");
    const started: EventDraft[] = [];
    const run = guardWith((draft) => {
      // The command has not run yet when its start is recorded.
      expect(existsSync(marker)).toBe(false);
      started.push(draft);
    });
    const secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    const result = await run(["sh", "-c", `touch ${marker}; echo ${secret} >/dev/null; seq 1 2000`]);
    expect(result.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(started).toHaveLength(1);
    const start = started[0] as EventDraft;
    expect(start).toMatchObject({ type: "exec.started", session: "s1" });
    expect(start.attrs).toMatchObject({ argv0: "sh", cwd: tmp.path });
    expect(start.attrs.command).toBe(result.event.attrs.command);
    expect(JSON.stringify(start)).not.toContain(secret);
    expect(result.event.type).toBe("exec.completed");
    expect(result.event.attrs.run_id).toBe(start.attrs.run_id);
    // A spilled output is named by the run id.
    expect(result.kind).toBe("preview");
    expect(result.event.attrs.spill_id).toBe(start.attrs.run_id);
    expect(result.warnings).toEqual([]);
  });

  it("refuses the command (126, a clear message) when the start cannot be recorded", async () => {
    const marker = join(tmp.path, "ran");
    const run = guardWith(noSpace);
    const result = await run(["touch", marker]);
    expect(result.exitCode).toBe(126);
    expect(result.kind).toBe("refused");
    expect(result.text.toString()).toMatch(
      /^clawguard: refused to run touch .*: its audit event cannot be recorded \(ENOSPC: no space left on device.*exec\.onAuditFailure: run\n$/,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it("runs it anyway, and says so, under exec.onAuditFailure: run", async () => {
    const marker = join(tmp.path, "ran");
    const run = guardWith(noSpace, { onAuditFailure: "run" });
    const result = await run(["sh", "-c", `touch ${marker}; echo out; exit 4`]);
    expect(result.exitCode).toBe(4);
    expect(result.text.toString()).toBe("out\n");
    expect(existsSync(marker)).toBe(true);
    expect(result.warnings.join("")).toMatch(/WITHOUT its start event \(ENOSPC/);
  });

  it("records no start for a command the policy refuses (it does not run)", async () => {
    const started: EventDraft[] = [];
    const run = guardWith((d) => started.push(d), { policy: { deny: ["rm *"] } });
    const result = await run(["rm", "x"]);
    expect(result.exitCode).toBe(126);
    expect(result.event.type).toBe("exec.denied");
    expect(started).toEqual([]);
  });
});
