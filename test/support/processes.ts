import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** Test-only: the real `clawguard` CLI run as child processes, tracked by PID and always cleaned up. */

export const CLI = fileURLToPath(new URL("../../sidecar/src/cli/main.ts", import.meta.url));

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr so far (the last 256 KiB). */
  output(): string;
  /** stdout alone (the last 256 KiB). */
  stdout(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | NodeJS.Signals>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
}

const KEEP = 256 * 1024;

export class Processes {
  readonly #all = new Set<Managed>();

  /** Starts `clawguard <args>` with exactly `env` (plus PATH/HOME) in `cwd`. */
  cli(name: string, args: string[], env: Record<string, string>, cwd: string): Managed {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let stdout = "";
    const append = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-KEEP);
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-KEEP);
      append(chunk);
    });
    child.stderr?.on("data", append);
    const exited = new Promise<number | NodeJS.Signals>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal as NodeJS.Signals)));
    });
    if (child.pid === undefined) throw new Error(`${name}: did not start`);
    const managed: Managed = {
      name,
      child,
      pid: child.pid,
      output: () => output,
      stdout: () => stdout,
      exited,
      kill: async (signal = "SIGTERM") => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, signal);
        return exited;
      },
    };
    this.#all.add(managed);
    exited.then(() => this.#all.delete(managed));
    return managed;
  }

  /** kill -9 of everything still running. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.#all].map((p) => p.kill("SIGKILL")));
  }
}

/** Polls `url` until it answers 2xx; fails with the process output when it exits or time runs out. */
export async function waitUntilUp(url: string, proc: Managed, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} exited before it was up:\n${proc.output()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name} not up at ${url} after ${timeoutMs} ms:\n${proc.output()}`);
}

/** Runs `clawguard <args>` to completion (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 60_000,
): Promise<{ code: number | NodeJS.Signals; output: string; stdout: string }> {
  const proc = new Processes().cli(args[0] ?? "clawguard", args, env, cwd);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, output: proc.output(), stdout: proc.stdout() };
}
