import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXIT_DEADLINE_MS } from "./signals.ts";

const signals = fileURLToPath(new URL("./signals.ts", import.meta.url));

/** A process whose stop never finishes: it must still be gone EXIT_DEADLINE_MS after the signal. */
function stuck() {
  const script = `
    const { untilSignal } = await import(${JSON.stringify(signals)});
    const reason = await Promise.race([
      untilSignal((m) => process.stderr.write(m + "\\n")),
      new Promise((r) => { process.stdout.write("ready\\n"); setTimeout(r, 60000, "never"); }),
    ]);
    process.stderr.write("stopping on " + reason + "\\n");
    setInterval(() => {}, 1000); // a stop that hangs
    await new Promise(() => {});`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const ready = new Promise<void>((r) => child.stdout.on("data", (d) => String(d).includes("ready") && r()));
  const exited = once(child, "exit") as Promise<[number | null, string | null]>;
  return { child, ready, exited, stderr: () => stderr };
}

describe("untilSignal", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
    ["SIGHUP", 129],
  ] as const)("%s: a stop that hangs is cut off after the deadline, said, exit %i", async (signal, code) => {
    const p = stuck();
    await p.ready;
    const t0 = performance.now();
    p.child.kill(signal);
    const [exitCode] = await p.exited;
    const ms = performance.now() - t0;
    expect(exitCode).toBe(code);
    expect(ms).toBeGreaterThanOrEqual(EXIT_DEADLINE_MS - 50);
    expect(ms).toBeLessThan(EXIT_DEADLINE_MS + 1000);
    expect(p.stderr()).toContain(`stopping on ${signal}`);
    expect(p.stderr()).toContain(`not stopped within ${EXIT_DEADLINE_MS} ms of ${signal}: exiting anyway`);
  });

  it("a second signal exits at once", async () => {
    const p = stuck();
    await p.ready;
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    p.child.kill("SIGINT");
    const [exitCode] = await p.exited;
    expect(exitCode).toBe(130);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
