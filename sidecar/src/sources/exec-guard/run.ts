import { spawn } from "node:child_process";
import { readSync } from "node:fs";
import { open } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { ulid } from "@clawguard/shared/ids";
import { OutputScanner } from "./output-scanner.ts";
import { scanWindow } from "./scan.ts";
import type { SpillStore } from "./spill.ts";

export interface ExecLimits {
  /** Output at or under this size is passed through unchanged. */
  maxBytes: number;
  previewBytes: number;
  timeoutMs: number;
  killGraceMs: number;
}

export interface RunRequest extends ExecLimits {
  /** The run's id (its spill's name); a new one when not given. */
  id?: string | undefined;
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export type StartFailure = "not_found" | "permission_denied" | "failed";

export interface RunOutcome {
  /** The spill id (and the exec's event id). */
  id: string;
  startedAt: Date;
  durationMs: number;
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  /** Set when the command could not be started at all. */
  startFailure?: { kind: StartFailure; message: string };
  bytes: number;
  lines: number;
  sha256: string;
  binary: boolean;
  spilled: boolean;
  /** The whole output when it was not spilled; the first bytes of it otherwise. */
  head: Buffer;
  scanner: OutputScanner;
}

const YIELD_BYTES = 1024 * 1024;
const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
export const EXIT_TIMEOUT = 124;
export const EXIT_CANNOT_RUN = 126;
export const EXIT_NOT_FOUND = 127;

/**
 * Runs a command with stdout and stderr going straight to a fresh spill file (as `cmd > file 2>&1`
 * would), while the file is read back and scanned as it grows. Memory stays flat whatever the
 * output size. Under the limit the spill is removed and the output returned whole.
 */
export async function runGuarded(request: RunRequest, spill: SpillStore): Promise<RunOutcome> {
  const id = request.id ?? ulid();
  const startedAt = new Date();
  // Not performance.now(): its first use loads perf_hooks (seven of Node's modules to compile).
  const t0 = process.hrtime.bigint();
  const writer = await spill.create(id);
  const reader = await open(spill.path(id), "r");
  const scanner = new OutputScanner(Math.max(request.maxBytes + 1, request.previewBytes));

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let startFailure: RunOutcome["startFailure"];
  let timedOut = false;
  const exited = new Promise<void>((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(request.argv[0] as string, request.argv.slice(1), {
        cwd: request.cwd,
        env: request.env,
        stdio: ["ignore", writer.fd, writer.fd],
        detached: true, // its own process group, so a timeout reaches its children too
      });
    } catch (err) {
      startFailure = classifyStartError(err as NodeJS.ErrnoException, request.argv[0] as string);
      resolve();
      return;
    }
    // A signal that would end clawguard (Ctrl-C, a caller's timeout) goes to the command's group,
    // which its own group keeps from the terminal's: then the outcome is recorded as usual. A second
    // one kills the group.
    let signalled = false;
    const forward = (signal: NodeJS.Signals) => {
      signalGroup(child.pid, signalled ? "SIGKILL" : signal);
      signalled = true;
    };
    for (const signal of FORWARDED) process.on(signal, forward);
    const unforward = () => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup(child.pid, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(child.pid, "SIGKILL"), request.killGraceMs);
    }, request.timeoutMs);
    child.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      unforward();
      startFailure = classifyStartError(err, request.argv[0] as string);
      resolve();
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      unforward();
      if (killTimer) clearTimeout(killTimer);
      // After a timeout the leader may end on SIGTERM while others in its group ignore it: the grace
      // period is over for them, or they would outlive the command (holding the spill file open).
      if (timedOut) signalGroup(child.pid, "SIGKILL");
      exit = { code, signal };
      resolve();
    });
  });
  const command: Command = { exited: false };
  void exited.then(() => {
    command.exited = true;
    command.wake?.();
  });
  // The child holds its own copies of the descriptor; ours is no longer needed.
  await writer.close();
  try {
    await scanAsWritten(reader.fd, scanner, command);
  } finally {
    await reader.close();
  }

  const { sha256, head } = scanner.finish();
  const spilled = scanner.bytes > request.maxBytes;
  if (!spilled) await spill.remove(id);
  const exitCode = startFailure
    ? startFailure.kind === "not_found"
      ? EXIT_NOT_FOUND
      : EXIT_CANNOT_RUN
    : timedOut
      ? EXIT_TIMEOUT
      : (exit?.code ?? 128 + signalNumber(exit?.signal ?? null));
  const outcome: RunOutcome = {
    id,
    startedAt,
    durationMs: Number((process.hrtime.bigint() - t0) / 1_000_000n),
    exitCode,
    signal: exit?.signal ?? null,
    timedOut,
    bytes: scanner.bytes,
    lines: scanner.lines,
    sha256,
    binary: scanner.binary,
    spilled,
    head: spilled ? head.subarray(0, request.previewBytes) : head,
    scanner,
  };
  if (startFailure) outcome.startFailure = startFailure;
  return outcome;
}

/** The command as the read loop sees it: whether it has exited, and how to cut a wait short. */
interface Command {
  exited: boolean;
  wake?: (() => void) | undefined;
}

/**
 * Reads the spill file into the scanner as the command writes it, until the command has exited and
 * the file is read to its end. Reads are synchronous: a page-cache read of 128 KiB takes
 * microseconds, far less than a hop to libuv's thread pool and back, which left the scanner idle
 * between chunks and behind the command. Every YIELD_BYTES the loop still yields, so a sidecar
 * serving other requests stays responsive. Read into the scanner's own memory: counted and searched
 * where it lies, no copy.
 */
async function scanAsWritten(fd: number, scanner: OutputScanner, command: Command): Promise<void> {
  const buf = scanWindow();
  let position = 0;
  let sinceYield = 0;
  let idleMs = 1;
  for (;;) {
    const bytesRead = readSync(fd, buf, 0, buf.length, position);
    if (bytesRead > 0) {
      scanner.push(buf.subarray(0, bytesRead));
      position += bytesRead;
      sinceYield += bytesRead;
    }
    if (bytesRead === buf.length) {
      idleMs = 1;
      if (sinceYield >= YIELD_BYTES) {
        sinceYield = 0;
        await new Promise(setImmediate);
      }
      continue;
    }
    // At the end of what is written so far. After exit the file is complete once a read comes back
    // empty: anything written before the exit was read by then.
    if (command.exited) {
      if (bytesRead === 0) return;
      continue;
    }
    sinceYield = 0;
    // Caught up with the command. After a short read, a moment's wait: the next read takes what was
    // written meanwhile in one chunk, not the few KiB since (each chunk costs the scanner the same
    // calls: 8 373 reads of 24 KiB for 200 MB of `seq`). After an empty one, longer each time.
    await pause(bytesRead > 0 ? 1 : idleMs, command);
    idleMs = bytesRead > 0 ? 1 : Math.min(idleMs * 2, 50);
  }
}

/** Waits `ms`, or until the command exits. */
function pause(ms: number, command: Command): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    command.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function signalNumber(signal: string | null): number {
  if (signal === null) return 0;
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}

function classifyStartError(
  err: NodeJS.ErrnoException,
  command: string,
): { kind: StartFailure; message: string } {
  if (err.code === "ENOENT") return { kind: "not_found", message: `command not found: ${command}` };
  if (err.code === "EACCES") return { kind: "permission_denied", message: `permission denied: ${command}` };
  return { kind: "failed", message: `cannot run ${command}: ${err.message}` };
}
